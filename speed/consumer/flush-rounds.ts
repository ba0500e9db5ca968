import type { Redis } from 'ioredis';
import type { Producer, TopicPartitionOffsetAndMetadata } from 'kafkajs';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { runFlush } from '../scripts.ts';
import type { SpeedMetrics } from '../speed-metrics.ts';
import type { PackedRound } from '../threads/pipeline-protocol.ts';
import { rememberDeadLetters, sendDeadLettersAndLate } from './dead-letter-and-late.ts';
import type { AssignedPartitions, PartitionState } from './partition-state.ts';
import type { ThreadSet } from './thread-set.ts';

export interface FlushRoundsOptions {
  redis: Redis;
  producer: Producer;
  keys: SpeedKeys;
  topic: string;
  sourceName: string;
  metrics: SpeedMetrics;
  flushRetries: number;
  threads: ThreadSet;
  partitions: AssignedPartitions;
  log: Logger;
  /** Sends the consumer back to `offset` of the partition. */
  seek: (state: PartitionState, offset: string) => void;
  /** Commits offsets to Kafka for the consumer group. */
  commitOffsets: (offsets: TopicPartitionOffsetAndMetadata[]) => Promise<void>;
  /** Called when a round cannot be written (Redis unreachable past retries). */
  onFatal: (error: Error) => void;
}

/**
 * A source consumer's flushes: each round takes every partition's pending state from the pipeline threads and
 * writes each thread's part with one script (compare-and-set on each partition's offset, all or nothing). One
 * round runs at a time, with at most one more queued behind it.
 */
export class FlushRounds {
  private flushing: Promise<void> | null = null;
  /** The one flush queued behind the running one, shared by everyone who asks meanwhile. */
  private followUp: Promise<void> | null = null;
  private lastFlushStartMs = 0;
  /** Set once the consumer stops: a refused round then restores nothing (no more reading). */
  private stopping = false;

  constructor(private readonly options: FlushRoundsOptions) {}

  /** The round being written, if any. */
  get running(): Promise<void> | null {
    return this.flushing;
  }

  /** Wall clock at which the latest round started (0 before the first). */
  get lastStartMs(): number {
    return this.lastFlushStartMs;
  }

  /** From now on a refused round restores nothing: nothing more is read, and the stored offsets are where the next owner starts. */
  markStopping(): void {
    this.stopping = true;
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
    this.flushing = this.round().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async round(): Promise<void> {
    const { threads, partitions, metrics, sourceName } = this.options;
    if (threads.size === 0) return;
    const now = Date.now();
    const taken: number[] = [];
    for (const state of partitions.values()) if (!state.restoring) taken.push(state.partition);
    const results = await threads.checkpoint(now, taken);
    const rounds = results.flatMap((result) => (result?.round ? [result.round] : []));
    metrics.pendingCells.set({ source: sourceName }, threads.pendingCells());
    metrics.heldSketches.set({ source: sourceName }, results.reduce((held, result) => held + (result?.heldSketches ?? 0), 0));
    const watermark = partitions.watermarkMs(now);
    if (watermark !== null) {
      metrics.watermark.set({ source: sourceName }, watermark);
      metrics.watermarkLag.set({ source: sourceName }, now - watermark);
    }
    if (rounds.length === 0) return;
    const timer = metrics.flushSeconds.startTimer({ source: sourceName });
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
    const { redis, keys, topic } = this.options;
    const views = new Set(applied.flatMap((round) => round.touchedViews));
    for (const view of views) redis.publish(keys.updates(view), String(Date.now())).catch(() => undefined);
    const deadLetters = applied.flatMap((round) => round.partitions.flatMap((flush) => flush.deadLetters));
    if (deadLetters.length > 0) rememberDeadLetters(redis, keys.recentDeadLetters(topic), deadLetters).catch(() => undefined);
    const offsets = applied.flatMap((round) => round.partitions.map(({ partition, header }) => ({ topic, partition, offset: header.nextOffset })));
    await this.options
      .commitOffsets(offsets)
      .catch((error: unknown) => this.options.log.debug({ err: error }, 'Kafka offset commit skipped (partitions moved?)'));
  }

  /**
   * Writes one pipeline thread's round (all its partitions, one script call); true when the script applied it.
   * Refused (a partition's stored offset moved on: another worker has it now), nothing of it is written, and
   * every partition of the round is restored from Redis and read again from its stored offset.
   */
  private async writeRound(round: PackedRound): Promise<boolean> {
    const { producer, redis, topic, log } = this.options;
    // Dead letters and late events first (see sendDeadLettersAndLate).
    await sendDeadLettersAndLate(producer, topic, round);

    const ops = Buffer.from(round.ops.buffer, round.ops.byteOffset, round.ops.byteLength);
    const headers = round.partitions.map((flush) => flush.header);
    const partitions = round.partitions.map((flush) => flush.partition);
    let outcome;
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await runFlush(redis, headers, { keys: round.keys, ops });
        break;
      } catch (error) {
        this.options.metrics.flushFailures.inc({ source: this.options.sourceName });
        if (attempt > this.options.flushRetries) {
          const fatal = new BraidError(ErrorCode.REDIS_UNREACHABLE, `flush of ${topic}${JSON.stringify(partitions)} failed ${attempt} times: ${(error as Error).message}`, {
            cause: error,
            fields: { topic, partitions: partitions.join(',') },
          });
          this.options.onFatal(fatal);
          throw fatal;
        }
        log.warn({ err: error, partitions, attempt }, 'flush failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }

    if (outcome.applied) return true;
    // Another worker moved a partition on since we read it: drop what we hold of the round, restore, re-read from there.
    this.options.metrics.flushRejected.inc({ source: this.options.sourceName }, outcome.refused.length);
    log.info(
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
        const state = this.options.partitions.get(partition);
        if (!state) return; // dropped after a rebalance meanwhile
        state.restoring = true;
        try {
          await this.options.partitions.restore(state);
        } finally {
          state.restoring = false;
        }
        const offset = state.next ?? state.readFrom;
        if (offset !== null) this.options.seek(state, String(offset));
      }),
    );
    return false;
  }
}
