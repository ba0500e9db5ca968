import type { Redis } from 'ioredis';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { isTransientKafkaError, type RedisConnection } from '../../shared/clients/index.ts';
import type { SourceSettings } from '../../shared/config/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { Source } from '../../shared/sources/index.ts';
import type { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { viewToData, type View as ViewDefinition } from '../../shared/views/index.ts';
import { addThreadCounts, type SpeedMetrics } from '../speed-metrics.ts';
import { packBatch } from '../threads/pipeline-host.ts';
import type { BatchResult } from '../threads/pipeline-protocol.ts';
import { FlushRounds } from './flush-rounds.ts';
import { AssignedPartitions, type PartitionState } from './partition-state.ts';
import { ThreadSet } from './thread-set.ts';

export interface SourceConsumerOptions {
  kafka: Kafka;
  redis: Redis;
  producer: Producer;
  source: Source;
  topic: string;
  settings: SourceSettings;
  views: readonly ViewDefinition[];
  keys: SpeedKeys;
  /** Where the pipeline thread connects to restore partitions (open sessions): `config.redis`. */
  redisConnection: RedisConnection;
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

/**
 * Runs one source's consumer group member: the fetch loop (kafkajs eachBatch)
 * with its backpressure, the group's rebalances, pipeline threads holding a
 * PartitionPipeline per assigned partition (thread-set.ts), and flush rounds
 * (flush-rounds.ts). Redis, not Kafka, holds the offsets that count: a
 * partition is restored from Redis when first seen (partition-state.ts) and
 * consumption seeks there; Kafka's committed offsets follow each flush so lag
 * shows in standard tools.
 */
export class SourceConsumer {
  readonly consumer: Consumer;
  readonly partitions: AssignedPartitions;
  private readonly threads = new ThreadSet();
  private readonly rounds: FlushRounds;
  /** A flush scheduled because every partition is caught up. */
  private promptFlush: NodeJS.Timeout | undefined;
  /** Replies of batches still in the pipeline thread, oldest first. */
  private inFlight: Array<Promise<unknown>> = [];
  private readonly log: Logger;

  get sourceName(): string {
    return this.options.source.name;
  }
  get group(): string {
    return this.options.group;
  }

  constructor(private readonly options: SourceConsumerOptions) {
    this.log = options.logger.child({ source: options.source.name, topic: options.topic, group: options.group });
    this.consumer = options.kafka.consumer({
      groupId: options.group,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 10)),
      maxBytesPerPartition: 1_048_576,
      retry: { retries: 10 },
    });
    this.partitions = new AssignedPartitions((partition) => this.threads.restore(partition), options.settings, this.log);
    this.rounds = new FlushRounds({
      redis: options.redis,
      producer: options.producer,
      keys: options.keys,
      topic: options.topic,
      sourceName: options.source.name,
      metrics: options.metrics,
      flushRetries: options.flushRetries,
      threads: this.threads,
      partitions: this.partitions,
      log: this.log,
      seek: (state, offset) => this.seek(state, offset),
      commitOffsets: (offsets) => this.consumer.commitOffsets(offsets),
      onFatal: options.onFatal,
    });
  }

  async start(): Promise<void> {
    const { consumer, options } = this;
    const init = {
      views: options.views.map(viewToData),
      redisConnection: options.redisConnection,
      keyPrefix: options.keys.prefix,
      group: options.group,
      topic: options.topic,
      maxOutOfOrdernessMs: options.settings.maxOutOfOrdernessMs,
      warmUpEvents: options.warmUpEvents,
    };
    const hosts = await this.threads.start(options.pipelineThreads, init, options.onFatal);
    this.log.info(
      { threads: hosts.length, warmUpEvents: options.warmUpEvents, warmUpMs: hosts.map((host) => Math.round(host.warmUpMs)) },
      'pipeline threads ready',
    );
    for (const host of hosts) {
      if (host.warmUpError !== undefined) this.log.warn({ error: host.warmUpError }, 'pipeline thread warm-up failed; it runs without it');
    }
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[this.options.topic] ?? []);
      this.log.info({ partitions: [...assigned].sort((a, b) => a - b) }, 'partitions assigned');
      // Restore every new partition now, all at once, rather than one by one as their first batches arrive.
      for (const partition of assigned) this.partitions.stateOf(partition);
      void this.dropUnassigned(assigned);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // A group coordinator still loading (a broker's first start) stops a consumer kafkajs then restarts.
      if (payload.restart && isTransientKafkaError(payload.error.message)) this.log.info({ reason: payload.error.message }, 'consumer restarting after a transient Kafka error');
      else this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
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
    const state = this.partitions.stateOf(partition);
    await state.restored;
    if (state.restoring || !this.partitions.holds(state)) return;

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
      const pending = this.threads.process(packed.batch, (result) => this.onBatchDone(state, result, now));
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
      const running = this.rounds.running;
      if (running) await running.catch(() => undefined);
      else this.flush().catch((error: unknown) => this.log.error({ err: error }, 'flush failed'));
    }
    await heartbeat();
  }

  private onBatchDone(state: PartitionState, result: BatchResult, nowMs: number): void {
    addThreadCounts(this.options.metrics, this.options.source.name, this.options.views, result.counts);
    if (!this.partitions.holds(state)) return; // dropped after a rebalance meanwhile
    state.maxEventTimeMs = result.maxEventTimeMs;
    if (result.sawEvent) state.lastEventWallMs = nowMs;
  }

  /**
   * Flushes soon once every assigned partition has been read to its end: waiting for the next tick would only
   * delay the results (and, after a backlog, the moment the worker is caught up in Redis).
   */
  private flushIfCaughtUp(): void {
    if (this.promptFlush !== undefined) return;
    if (!this.partitions.allCaughtUp()) return;
    const delayMs = Math.max(0, this.rounds.lastStartMs + this.options.minFlushIntervalMs - Date.now());
    this.promptFlush = setTimeout(() => {
      this.promptFlush = undefined;
      this.flush().catch((error: unknown) => this.log.error({ err: error }, 'flush failed'));
    }, delayMs);
  }

  private seek(state: PartitionState, offset: string): void {
    state.soughtTo = offset;
    this.consumer.seek({ topic: this.options.topic, partition: state.partition, offset });
  }

  /** Batches handed to the pipeline threads since the consumer started. */
  get batchesHandedOn(): number {
    return this.threads.batchesHandedOn;
  }

  /** Pending cells in the pipeline threads, as of their last replies. */
  pendingCells(): number {
    return this.threads.pendingCells();
  }

  /** Worker watermark: the minimum over assigned partitions that saw an event within the idle timeout. */
  watermarkMs(nowMs = Date.now()): number | null {
    return this.partitions.watermarkMs(nowMs);
  }

  /** Flushes every partition's pending state; one flush round at a time, and at most one more queued behind it. */
  flush(): Promise<void> {
    return this.rounds.flush();
  }

  private async dropUnassigned(assigned: Set<number>): Promise<void> {
    const gone = [...this.partitions.keys()].filter((partition) => !assigned.has(partition));
    if (gone.length === 0) return;
    // Best effort: write what we have; a refused flush is harmless (the new owner re-reads it).
    await this.flush().catch((error: unknown) => this.log.warn({ err: error }, 'flush before dropping partitions failed'));
    for (const partition of gone) this.partitions.delete(partition);
    await this.threads.close(gone).catch((error: unknown) => this.log.warn({ err: error }, 'closing dropped partitions failed'));
    this.log.info({ partitions: gone }, 'partitions dropped after rebalance');
  }

  /** Stops fetching, flushes everything, commits, leaves the group. */
  async stop(): Promise<void> {
    this.rounds.markStopping();
    await this.consumer.stop();
    clearTimeout(this.promptFlush);
    this.promptFlush = undefined;
    try {
      await this.flush();
    } finally {
      await this.consumer.disconnect();
      await this.threads.stop();
    }
  }
}
