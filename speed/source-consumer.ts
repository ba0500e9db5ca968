import type { Redis } from 'ioredis';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { SourceSettings } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { Source } from '../shared/sources/index.ts';
import type { View } from '../shared/views/index.ts';
import { PartitionPipeline, pipelineCounts, type PartitionCheckpoint, type PipelineCounts } from './partition-pipeline.ts';
import type { SpeedKeys } from './redis-keys.ts';
import { runFlush } from './scripts.ts';
import type { SpeedMetrics } from './speed-metrics.ts';

export interface SourceConsumerOptions {
  kafka: Kafka;
  redis: Redis;
  producer: Producer;
  source: Source;
  topic: string;
  settings: SourceSettings;
  views: readonly View[];
  keys: SpeedKeys;
  group: string;
  logger: Logger;
  metrics: SpeedMetrics;
  maxPendingCells: number;
  flushRetries: number;
  sessionTimeoutMs: number;
  /** Called when the consumer cannot go on (e.g. Redis unreachable past retries). */
  onFatal: (error: Error) => void;
}

/**
 * Runs one source's consumer group member: the fetch loop (kafkajs eachBatch),
 * a PartitionPipeline per assigned partition, and flushes. Redis, not Kafka,
 * holds the offsets that count: a partition is restored from Redis when first
 * seen and consumption seeks there; Kafka's committed offsets follow each
 * flush so lag shows in standard tools.
 */
export class SourceConsumer {
  readonly consumer: Consumer;
  readonly pipelines = new Map<number, PartitionPipeline>();
  readonly dlqTopic: string;
  readonly lateTopic: string;
  private flushing: Promise<void> | null = null;
  private readonly counts: PipelineCounts;
  private readonly log: Logger;

  get sourceName(): string {
    return this.options.source.name;
  }
  get group(): string {
    return this.options.group;
  }

  constructor(private readonly options: SourceConsumerOptions) {
    this.counts = pipelineCounts(options.views.length);
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
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[this.options.topic] ?? []);
      this.log.info({ partitions: [...assigned].sort((a, b) => a - b) }, 'partitions assigned');
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
    const { partition } = batch;
    if (batch.messages.length === 0) return;
    let pipeline = this.pipelines.get(partition);
    if (!pipeline) {
      pipeline = new PartitionPipeline(this.options.source, this.options.views, {
        keys: this.options.keys,
        group: this.options.group,
        topic: this.options.topic,
        partition,
        maxOutOfOrdernessMs: this.options.settings.maxOutOfOrdernessMs,
        counts: this.counts,
      });
      this.pipelines.set(partition, pipeline);
      await pipeline.restore(this.options.redis);
      this.log.info({ partition, offset: pipeline.nextOffset, maxEventTimeMs: pipeline.maxEventTimeMs }, 'partition restored from Redis');
    }
    if (pipeline.restoring) return;

    const first = batch.messages[0]!.offset;
    if (pipeline.nextOffset !== null && Number(first) > Number(pipeline.nextOffset) && pipeline.soughtTo !== pipeline.nextOffset) {
      // Kafka handed us later messages than Redis has: go back to Redis's offset (once; a real gap is then accepted).
      this.seek(pipeline, pipeline.nextOffset);
      return;
    }
    const now = Date.now();
    let handled: string | undefined;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      const offset = Number(message.offset);
      const next = pipeline.nextOffsetNumber;
      if (next === null || offset >= next) pipeline.process(message, offset, now);
      handled = message.offset;
    }
    // Resolving only moves kafkajs's fetch position on; offsets are committed (to Redis, then Kafka) by the
    // flush. Once per batch: per message, kafkajs's offset bookkeeping cost about 7 % of the worker's time.
    if (handled !== undefined) resolveOffset(handled);
    const lag = Number(batch.highWatermark) - Number(pipeline.nextOffset ?? first);
    this.options.metrics.consumerLag.set({ topic: this.options.topic, partition: String(partition) }, Math.max(0, lag));
    this.reportCounts();
    if (this.pendingCells() >= this.options.maxPendingCells) {
      // Backpressure: fetching waits while the flush runs, so memory stays bounded.
      await this.flush();
    }
    await heartbeat();
  }

  private seek(pipeline: PartitionPipeline, offset: string): void {
    pipeline.soughtTo = offset;
    this.consumer.seek({ topic: this.options.topic, partition: pipeline.partition, offset });
  }

  pendingCells(): number {
    let cells = 0;
    for (const pipeline of this.pipelines.values()) cells += pipeline.pendingCells;
    return cells;
  }

  /** Worker watermark: the minimum over assigned partitions that saw an event within the idle timeout. */
  watermarkMs(nowMs = Date.now()): number | null {
    let active = Infinity;
    let any = -Infinity;
    for (const pipeline of this.pipelines.values()) {
      const watermark = pipeline.watermarkMs();
      if (!Number.isFinite(watermark)) continue;
      any = Math.max(any, watermark);
      if (nowMs - pipeline.lastEventWallMs <= this.options.settings.idleTimeoutMs) active = Math.min(active, watermark);
    }
    if (Number.isFinite(active)) return active;
    return Number.isFinite(any) ? any : null;
  }

  /** Flushes every partition's pending state; one flush round at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    this.flushing = this.flushRound().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushRound(): Promise<void> {
    const now = Date.now();
    const jobs: Array<[PartitionPipeline, PartitionCheckpoint]> = [];
    for (const pipeline of this.pipelines.values()) {
      const checkpoint = pipeline.checkpoint(now);
      if (checkpoint) jobs.push([pipeline, checkpoint]);
    }
    this.options.metrics.pendingCells.set({ source: this.options.source.name }, this.pendingCells());
    const watermark = this.watermarkMs(now);
    if (watermark !== null) {
      this.options.metrics.watermark.set({ source: this.options.source.name }, watermark);
      this.options.metrics.watermarkLag.set({ source: this.options.source.name }, now - watermark);
    }
    if (jobs.length === 0) return;
    const timer = this.options.metrics.flushSeconds.startTimer({ source: this.options.source.name });
    await Promise.all(jobs.map(([pipeline, checkpoint]) => this.flushPartition(pipeline, checkpoint)));
    timer();
  }

  private async flushPartition(pipeline: PartitionPipeline, checkpoint: PartitionCheckpoint): Promise<void> {
    const { producer, redis } = this.options;
    // Dead letters and late events first: if we crash after this, replay sends them again (at least once),
    // but never counts an event it did not also keep.
    if (checkpoint.deadLetters.length > 0) await producer.send({ topic: this.dlqTopic, messages: checkpoint.deadLetters });
    if (checkpoint.late.length > 0) await producer.send({ topic: this.lateTopic, messages: checkpoint.late });

    let outcome;
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await runFlush(redis, checkpoint.header, checkpoint.program);
        break;
      } catch (error) {
        if (attempt > this.options.flushRetries) {
          const fatal = new BraidError(ErrorCode.REDIS_UNREACHABLE, `flush of ${this.options.topic}[${pipeline.partition}] failed ${attempt} times: ${(error as Error).message}`, {
            cause: error,
            fields: { topic: this.options.topic, partition: pipeline.partition },
          });
          this.options.onFatal(fatal);
          throw fatal;
        }
        this.log.warn({ err: error, partition: pipeline.partition, attempt }, 'flush failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }

    if (outcome.applied) {
      for (const view of checkpoint.program.touchedViews) {
        redis.publish(this.options.keys.updates(view), checkpoint.header.nextOffset).catch(() => undefined);
      }
      await this.consumer
        .commitOffsets([{ topic: this.options.topic, partition: pipeline.partition, offset: checkpoint.header.nextOffset }])
        .catch((error: unknown) => this.log.debug({ err: error, partition: pipeline.partition }, 'Kafka offset commit skipped (partition moved?)'));
      return;
    }
    // Another worker moved this partition on since we read it: drop what we hold, restore, and re-read from there.
    this.options.metrics.flushRejected.inc({ source: this.options.source.name });
    this.log.info({ partition: pipeline.partition, expected: checkpoint.header.expectedOffset, stored: outcome.storedOffset }, 'flush refused (partition moved on); restoring');
    pipeline.restoring = true;
    try {
      await pipeline.restore(redis);
    } finally {
      pipeline.restoring = false;
    }
    if (pipeline.nextOffset !== null) this.seek(pipeline, pipeline.nextOffset);
  }

  private async dropUnassigned(assigned: Set<number>): Promise<void> {
    const gone = [...this.pipelines.keys()].filter((partition) => !assigned.has(partition));
    if (gone.length === 0) return;
    // Best effort: write what we have; a refused flush is harmless (the new owner re-reads it).
    await this.flush().catch((error: unknown) => this.log.warn({ err: error }, 'flush before dropping partitions failed'));
    for (const partition of gone) {
      this.pipelines.get(partition)?.close();
      this.pipelines.delete(partition);
    }
    this.log.info({ partitions: gone }, 'partitions dropped after rebalance');
  }

  private reportCounts(): void {
    const { metrics, source } = this.options;
    const counts = this.counts;
    if (counts.eventsIn > 0) metrics.eventsIn.inc({ source: source.name }, counts.eventsIn);
    if (counts.deadLettered > 0) metrics.deadLettered.inc({ source: source.name }, counts.deadLettered);
    this.options.views.forEach((view, index) => {
      if (counts.eventsPerView[index]! > 0) metrics.eventsPerView.inc({ view: view.name }, counts.eventsPerView[index]!);
      if (counts.latePerView[index]! > 0) metrics.late.inc({ view: view.name }, counts.latePerView[index]!);
    });
    counts.eventsIn = 0;
    counts.deadLettered = 0;
    counts.eventsPerView.fill(0);
    counts.latePerView.fill(0);
  }

  /** Stops fetching, flushes everything, commits, leaves the group. */
  async stop(): Promise<void> {
    await this.consumer.stop();
    try {
      await this.flush();
    } finally {
      await this.consumer.disconnect();
      for (const pipeline of this.pipelines.values()) pipeline.close();
    }
  }
}
