import type { Redis } from 'ioredis';
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import type { SourceSettings } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { Source } from '../shared/sources/index.ts';
import { viewToData, type View as ViewDefinition } from '../shared/views/index.ts';
import { packBatch, PipelineHost } from './pipeline-host.ts';
import type { BatchResult, OutgoingMessage, PackedRound, ThreadCounts } from './pipeline-protocol.ts';
import type { SpeedKeys } from '../shared/speed-contract/index.ts';
import { runFlush } from './scripts.ts';
import type { SpeedMetrics } from './speed-metrics.ts';

export interface SourceConsumerOptions {
  kafka: Kafka;
  redis: Redis;
  producer: Producer;
  source: Source;
  topic: string;
  settings: SourceSettings;
  views: readonly ViewDefinition[];
  keys: SpeedKeys;
  /** Where the pipeline thread connects to restore partitions (open sessions). */
  redisUrl: string;
  group: string;
  logger: Logger;
  metrics: SpeedMetrics;
  maxPendingCells: number;
  flushRetries: number;
  sessionTimeoutMs: number;
  /** Pipeline threads sharing the partitions (decoding, views, building flushes). */
  pipelineThreads: number;
  /** Synthetic events each pipeline thread runs through its views before the consumer joins the group (JIT warm-up; 0: none). */
  warmUpEvents: number;
  /**
   * Once every assigned partition has been read to its end, the pending deltas are flushed as soon as this long has
   * passed since the previous flush started, instead of at the next `flushIntervalMs` tick: nothing more is coming
   * to batch them with.
   */
  minFlushIntervalMs: number;
  /** Called when the consumer cannot go on (e.g. Redis unreachable past retries). */
  onFatal: (error: Error) => void;
}

/** Batches handed to the pipeline thread and not yet processed, at most: fetching waits beyond (bounded memory). */
const MAX_BATCHES_IN_FLIGHT = 4;

/** What this thread knows of an assigned partition; its pipeline (views, pending state) lives in the pipeline thread. */
interface PartitionState {
  readonly partition: number;
  /** Offset after the last message handed to the pipeline (null before the first one and before any offset is stored). */
  next: number | null;
  /** Max event time the pipeline has seen (its watermark basis), as of its last reply. */
  maxEventTimeMs: number | null;
  /** Wall clock of the last batch that held a valid event (idleness). */
  lastEventWallMs: number;
  /** Set while the partition restores after a failed compare-and-set; its messages are skipped meanwhile. */
  restoring: boolean;
  /** Offset this consumer last asked Kafka to seek to. */
  soughtTo: string | null;
  /** False while the last batch handed on ended before the partition's high watermark (more to read). */
  caughtUp: boolean;
  /** Settles once the partition's offset and pipeline are restored from Redis (started when it is assigned). */
  restored: Promise<void>;
  /**
   * Offset of the first message handed to the pipeline while Redis held no offset for the partition: where a
   * refused round sends it back to when there is still none stored (kafkajs started it at the earliest offset).
   */
  readFrom: number | null;
}

/**
 * Runs one source's consumer group member: the fetch loop (kafkajs eachBatch),
 * a pipeline thread holding a PartitionPipeline per assigned partition, and
 * flushes. Redis, not Kafka, holds the offsets that count: a partition is
 * restored from Redis when first seen and consumption seeks there; Kafka's
 * committed offsets follow each flush so lag shows in standard tools.
 */
export class SourceConsumer {
  readonly consumer: Consumer;
  readonly partitions = new Map<number, PartitionState>();
  readonly dlqTopic: string;
  readonly lateTopic: string;
  private flushing: Promise<void> | null = null;
  /** The one flush queued behind the running one, shared by everyone who asks meanwhile. */
  private followUp: Promise<void> | null = null;
  private lastFlushStartMs = 0;
  /** Set by stop(): a refused round then restores nothing (no more reading). */
  private stopping = false;
  /** A flush scheduled because every partition is caught up. */
  private promptFlush: NodeJS.Timeout | undefined;
  /** The pipeline threads; a partition lives in `hosts[partition % hosts.length]`. */
  private hosts: PipelineHost[] = [];
  /** Replies of batches still in the pipeline thread, oldest first. */
  private inFlight: Array<Promise<unknown>> = [];
  /** Pending cells in each pipeline thread, as of its last reply. */
  private pendingCellsReported: number[] = [];
  /** Batches handed to the thread so far, and how many of them the last flush took. */
  private batchesSent = 0;
  private batchesFlushed = 0;
  private readonly log: Logger;

  get sourceName(): string {
    return this.options.source.name;
  }
  get group(): string {
    return this.options.group;
  }

  constructor(private readonly options: SourceConsumerOptions) {
    this.dlqTopic = `${options.topic}.dlq`;
    this.lateTopic = `${options.topic}.late`;
    this.log = options.logger.child({ source: options.source.name, topic: options.topic, group: options.group });
    this.consumer = options.kafka.consumer({
      groupId: options.group,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 10)),
      maxBytesPerPartition: 1_048_576,
      retry: { retries: 10 },
    });
  }

  async start(): Promise<void> {
    const { consumer, options } = this;
    const init = {
      views: options.views.map(viewToData),
      redisUrl: options.redisUrl,
      keyPrefix: options.keys.prefix,
      group: options.group,
      topic: options.topic,
      maxOutOfOrdernessMs: options.settings.maxOutOfOrdernessMs,
      warmUpEvents: options.warmUpEvents,
    };
    const started = await Promise.allSettled(Array.from({ length: options.pipelineThreads }, () => PipelineHost.start(init, options.onFatal)));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      // The threads that did start would keep the process alive: stop them before giving up.
      await Promise.allSettled(started.flatMap((result) => (result.status === 'fulfilled' ? [result.value.stop()] : [])));
      throw failed.reason;
    }
    this.hosts = started.map((result) => (result as PromiseFulfilledResult<PipelineHost>).value);
    this.log.info(
      { threads: this.hosts.length, warmUpEvents: options.warmUpEvents, warmUpMs: this.hosts.map((host) => Math.round(host.warmUpMs)) },
      'pipeline threads ready',
    );
    for (const host of this.hosts) {
      if (host.warmUpError !== undefined) this.log.warn({ error: host.warmUpError }, 'pipeline thread warm-up failed; it runs without it');
    }
    this.pendingCellsReported = this.hosts.map(() => 0);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[this.options.topic] ?? []);
      this.log.info({ partitions: [...assigned].sort((a, b) => a - b) }, 'partitions assigned');
      // Restore every new partition now, all at once, rather than one by one as their first batches arrive.
      for (const partition of assigned) this.stateOf(partition);
      void this.dropUnassigned(assigned);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      if (!payload.restart) this.options.onFatal(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private async eachBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    const { partition, messages } = batch;
    if (messages.length === 0) return;
    const state = this.stateOf(partition);
    await state.restored;
    if (state.restoring || this.partitions.get(partition) !== state) return;

    const first = Number(messages[0]!.offset);
    if (state.next !== null && first > state.next && state.soughtTo !== String(state.next)) {
      // Kafka handed us later messages than Redis has: go back to Redis's offset (once; a real gap is then accepted).
      this.seek(state, String(state.next));
      return;
    }
    // The loop below does not yield, so nothing can make the batch stale halfway through it.
    if (!isRunning() || isStale()) return;
    const now = Date.now();
    if (state.next === null) state.readFrom ??= first;
    const packed = packBatch(partition, messages, state.next);
    if (packed) {
      state.next = packed.lastOffset + 1;
      const sequence = ++this.batchesSent;
      const pending = this.hostOf(partition)
        .process(packed.batch)
        .then((result) => this.onBatchDone(state, sequence, result, now));
      this.inFlight.push(pending);
      pending.then(
        () => this.inFlight.splice(this.inFlight.indexOf(pending), 1),
        () => undefined, // the host has reported the failure (onFatal)
      );
    }
    // Resolving only moves kafkajs's fetch position on; offsets are committed (to Redis, then Kafka) by the
    // flush. Once per batch: per message, kafkajs's offset bookkeeping cost about 7 % of the worker's time.
    resolveOffset(messages[messages.length - 1]!.offset);
    const lag = Number(batch.highWatermark) - (state.next ?? first);
    this.options.metrics.consumerLag.set({ topic: this.options.topic, partition: String(partition) }, Math.max(0, lag));
    state.caughtUp = lag <= 0;
    if (state.caughtUp) this.flushIfCaughtUp();
    // Backpressure, so memory stays bounded: fetching waits while the thread is behind; once enough is
    // pending, a flush starts, and fetching goes on while it is written unless the next flush's worth is
    // pending too. So at most two flushes' worth of cells are held: one being written, one being built.
    while (this.inFlight.length > MAX_BATCHES_IN_FLIGHT) await this.inFlight[0]!.catch(() => undefined);
    if (this.pendingCells() >= this.options.maxPendingCells) {
      if (this.flushing) await this.flushing.catch(() => undefined);
      else this.flush().catch((error: unknown) => this.log.error({ err: error }, 'flush failed'));
    }
    await heartbeat();
  }

  private onBatchDone(state: PartitionState, sequence: number, result: BatchResult, nowMs: number): void {
    // A batch the running flush took reports cells that flush holds now, not the thread.
    if (sequence > this.batchesFlushed) this.pendingCellsReported[this.hostIndex(state.partition)] = result.pendingCells;
    this.reportCounts(result.counts);
    if (this.partitions.get(state.partition) !== state) return; // dropped after a rebalance meanwhile
    state.maxEventTimeMs = result.maxEventTimeMs;
    if (result.sawEvent) state.lastEventWallMs = nowMs;
  }

  /** The partition's state, created (and its restore from Redis started) on first sight. */
  private stateOf(partition: number): PartitionState {
    const known = this.partitions.get(partition);
    if (known) return known;
    const state: PartitionState = {
      partition,
      next: null,
      maxEventTimeMs: null,
      lastEventWallMs: 0,
      restoring: false,
      soughtTo: null,
      // Until a batch shows it behind: kafkajs hands over no empty batches, so an empty partition never says so.
      caughtUp: true,
      restored: Promise.resolve(),
      readFrom: null,
    };
    state.restored = this.restore(state).then(
      () => this.log.info({ partition, offset: state.next, maxEventTimeMs: state.maxEventTimeMs }, 'partition restored from Redis'),
      (error: unknown) => {
        // Forgotten, so that its next batch tries again; this batch's handler gets the error.
        if (this.partitions.get(partition) === state) this.partitions.delete(partition);
        throw error;
      },
    );
    state.restored.catch(() => undefined); // eachBatch awaits it: no unhandled rejection before then
    this.partitions.set(partition, state);
    return state;
  }

  /**
   * Flushes soon once every assigned partition has been read to its end: waiting for the next tick would only
   * delay the results (and, after a backlog, the moment the worker is caught up in Redis).
   */
  private flushIfCaughtUp(): void {
    if (this.promptFlush !== undefined) return;
    for (const state of this.partitions.values()) if (!state.caughtUp) return;
    const delayMs = Math.max(0, this.lastFlushStartMs + this.options.minFlushIntervalMs - Date.now());
    this.promptFlush = setTimeout(() => {
      this.promptFlush = undefined;
      this.flush().catch((error: unknown) => this.log.error({ err: error }, 'flush failed'));
    }, delayMs);
  }

  /** Restores the partition's pipeline from Redis and takes its offset and max event time. */
  private async restore(state: PartitionState): Promise<void> {
    const restored = await this.hostOf(state.partition).restore(state.partition);
    state.next = restored.nextOffset;
    state.maxEventTimeMs = restored.maxEventTimeMs;
  }

  private seek(state: PartitionState, offset: string): void {
    state.soughtTo = offset;
    this.consumer.seek({ topic: this.options.topic, partition: state.partition, offset });
  }

  /** Which pipeline thread holds `partition`. */
  private hostIndex(partition: number): number {
    return partition % this.hosts.length;
  }

  private hostOf(partition: number): PipelineHost {
    return this.hosts[this.hostIndex(partition)]!;
  }

  /** Batches handed to the pipeline threads since the consumer started. */
  get batchesHandedOn(): number {
    return this.batchesSent;
  }

  /** Pending cells in the pipeline threads, as of their last replies. */
  pendingCells(): number {
    let cells = 0;
    for (const reported of this.pendingCellsReported) cells += reported;
    return cells;
  }

  /** Worker watermark: the minimum over assigned partitions that saw an event within the idle timeout. */
  watermarkMs(nowMs = Date.now()): number | null {
    let active = Infinity;
    let any = -Infinity;
    for (const state of this.partitions.values()) {
      if (state.maxEventTimeMs === null) continue;
      const watermark = state.maxEventTimeMs - this.options.settings.maxOutOfOrdernessMs;
      any = Math.max(any, watermark);
      if (nowMs - state.lastEventWallMs <= this.options.settings.idleTimeoutMs) active = Math.min(active, watermark);
    }
    if (Number.isFinite(active)) return active;
    return Number.isFinite(any) ? any : null;
  }

  /** Flushes every partition's pending state; one flush round at a time, and at most one more queued behind it. */
  flush(): Promise<void> {
    if (this.flushing) {
      this.followUp ??= this.flushing
        .catch(() => undefined)
        .then(() => {
          this.followUp = null;
          return this.flush();
        });
      return this.followUp;
    }
    this.lastFlushStartMs = Date.now();
    this.flushing = this.flushRound().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushRound(): Promise<void> {
    if (this.hosts.length === 0) return;
    const now = Date.now();
    const byHost: number[][] = this.hosts.map(() => []);
    for (const state of this.partitions.values()) if (!state.restoring) byHost[this.hostIndex(state.partition)]!.push(state.partition);
    this.batchesFlushed = this.batchesSent;
    this.pendingCellsReported.fill(0);
    const results = await Promise.all(this.hosts.map((host, index) => (byHost[index]!.length === 0 ? null : host.checkpoint(now, byHost[index]!))));
    const rounds = results.flatMap((result) => (result?.round ? [result.round] : []));
    results.forEach((result, index) => (this.pendingCellsReported[index] = result?.pendingCells ?? 0));
    const pendingCells = this.pendingCells();
    this.options.metrics.pendingCells.set({ source: this.options.source.name }, pendingCells);
    this.options.metrics.heldSketches.set({ source: this.options.source.name }, results.reduce((held, result) => held + (result?.heldSketches ?? 0), 0));
    const watermark = this.watermarkMs(now);
    if (watermark !== null) {
      this.options.metrics.watermark.set({ source: this.options.source.name }, watermark);
      this.options.metrics.watermarkLag.set({ source: this.options.source.name }, now - watermark);
    }
    if (rounds.length === 0) return;
    const timer = this.options.metrics.flushSeconds.startTimer({ source: this.options.source.name });
    const outcomes = await Promise.all(rounds.map((round) => this.writeRound(round)));
    const applied = rounds.filter((_, index) => outcomes[index]);
    if (applied.length > 0) await this.announce(applied);
    timer();
  }

  /**
   * After a round's scripts: one update notification per view the round touched (the serving layer re-reads
   * the speed progress on it), and one Kafka offset commit for every partition written, so lag shows in
   * standard tools. Once per round, not per partition: a caught-up worker flushes up to ten times a second.
   */
  private async announce(applied: readonly PackedRound[]): Promise<void> {
    const { redis, keys } = this.options;
    const views = new Set(applied.flatMap((round) => round.touchedViews));
    for (const view of views) redis.publish(keys.updates(view), String(Date.now())).catch(() => undefined);
    const offsets = applied.flatMap((round) => round.partitions.map(({ partition, header }) => ({ topic: this.options.topic, partition, offset: header.nextOffset })));
    await this.consumer
      .commitOffsets(offsets)
      .catch((error: unknown) => this.log.debug({ err: error }, 'Kafka offset commit skipped (partitions moved?)'));
  }

  /**
   * Writes one pipeline thread's round (all its partitions, one script call); true when the script applied it.
   * Refused (a partition's stored offset moved on: another worker has it now), nothing of it is written, and
   * every partition of the round is restored from Redis and read again from its stored offset.
   */
  private async writeRound(round: PackedRound): Promise<boolean> {
    const { producer, redis } = this.options;
    // Dead letters and late events first: if we crash after this, replay sends them again (at least once),
    // but never counts an event it did not also keep.
    const deadLetters = round.partitions.flatMap((flush) => flush.deadLetters);
    const late = round.partitions.flatMap((flush) => flush.late);
    if (deadLetters.length > 0) await producer.send({ topic: this.dlqTopic, messages: deadLetters.map(toKafkaMessage) });
    if (late.length > 0) await producer.send({ topic: this.lateTopic, messages: late.map(toKafkaMessage) });

    const ops = Buffer.from(round.ops.buffer, round.ops.byteOffset, round.ops.byteLength);
    const headers = round.partitions.map((flush) => flush.header);
    const partitions = round.partitions.map((flush) => flush.partition);
    let outcome;
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await runFlush(redis, headers, { keys: round.keys, ops });
        break;
      } catch (error) {
        if (attempt > this.options.flushRetries) {
          const fatal = new BraidError(ErrorCode.REDIS_UNREACHABLE, `flush of ${this.options.topic}${JSON.stringify(partitions)} failed ${attempt} times: ${(error as Error).message}`, {
            cause: error,
            fields: { topic: this.options.topic, partitions: partitions.join(',') },
          });
          this.options.onFatal(fatal);
          throw fatal;
        }
        this.log.warn({ err: error, partitions, attempt }, 'flush failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }

    if (outcome.applied) return true;
    // Another worker moved a partition on since we read it: drop what we hold of the round, restore, re-read from there.
    this.options.metrics.flushRejected.inc({ source: this.options.source.name }, outcome.refused.length);
    this.log.info(
      {
        refused: outcome.refused.map(({ index, storedOffset }) => ({ partition: partitions[index], expected: headers[index]!.expectedOffset, stored: storedOffset })),
        restoring: partitions,
      },
      'flush refused (a partition moved on); restoring the round\'s partitions',
    );
    // Stopping: nothing more is read, and the stored offsets are where the next owner starts.
    if (this.stopping) return false;
    await Promise.all(
      partitions.map(async (partition) => {
        const state = this.partitions.get(partition);
        if (!state) return; // dropped after a rebalance meanwhile
        state.restoring = true;
        try {
          await this.restore(state);
        } finally {
          state.restoring = false;
        }
        const offset = state.next ?? state.readFrom;
        if (offset !== null) this.seek(state, String(offset));
      }),
    );
    return false;
  }

  private async dropUnassigned(assigned: Set<number>): Promise<void> {
    const gone = [...this.partitions.keys()].filter((partition) => !assigned.has(partition));
    if (gone.length === 0) return;
    // Best effort: write what we have; a refused flush is harmless (the new owner re-reads it).
    await this.flush().catch((error: unknown) => this.log.warn({ err: error }, 'flush before dropping partitions failed'));
    for (const partition of gone) this.partitions.delete(partition);
    await Promise.all(
      this.hosts.map((host, index) => {
        const mine = gone.filter((partition) => this.hostIndex(partition) === index);
        return mine.length === 0 ? undefined : host.close(mine);
      }),
    ).catch((error: unknown) => this.log.warn({ err: error }, 'closing dropped partitions failed'));
    this.log.info({ partitions: gone }, 'partitions dropped after rebalance');
  }

  private reportCounts(counts: ThreadCounts): void {
    const { metrics, source } = this.options;
    if (counts.eventsIn > 0) metrics.eventsIn.inc({ source: source.name }, counts.eventsIn);
    if (counts.deadLettered > 0) metrics.deadLettered.inc({ source: source.name }, counts.deadLettered);
    this.options.views.forEach((view, index) => {
      if (counts.eventsPerView[index]! > 0) metrics.eventsPerView.inc({ view: view.name }, counts.eventsPerView[index]!);
      if (counts.latePerView[index]! > 0) metrics.late.inc({ view: view.name }, counts.latePerView[index]!);
    });
  }

  /** Stops fetching, flushes everything, commits, leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.stop();
    clearTimeout(this.promptFlush);
    this.promptFlush = undefined;
    try {
      await this.flush();
    } finally {
      await this.consumer.disconnect();
      await Promise.all(this.hosts.map((host) => host.stop()));
    }
  }
}

/** A dead-letter or late message as kafkajs sends it. */
function toKafkaMessage(message: OutgoingMessage): Message {
  const buffer = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return { key: buffer(message.key), value: buffer(message.value), headers: message.headers };
}
