import type { SourceSettings } from '../../shared/config/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { RestoreResult } from '../threads/pipeline-protocol.ts';

/** What the consumer's thread knows of an assigned partition; its pipeline (views, pending state) lives in the pipeline thread. */
export interface PartitionState {
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
 * The partitions a source consumer holds, by number: each one's state is made, and its restore from Redis
 * started, on first sight, and dropped after a rebalance takes the partition away.
 */
export class AssignedPartitions {
  private readonly states = new Map<number, PartitionState>();

  constructor(
    /** Restores the partition's pipeline from Redis (in its pipeline thread): its stored offset and max event time. */
    private readonly restoreFrom: (partition: number) => Promise<RestoreResult>,
    private readonly settings: Pick<SourceSettings, 'maxOutOfOrdernessMs' | 'idleTimeoutMs'>,
    private readonly log: Logger,
  ) {}

  get(partition: number): PartitionState | undefined {
    return this.states.get(partition);
  }

  /** The partitions' numbers. */
  keys(): IterableIterator<number> {
    return this.states.keys();
  }

  values(): IterableIterator<PartitionState> {
    return this.states.values();
  }

  /** False once the partition has been dropped (after a rebalance), or made anew, since `state` was made. */
  holds(state: PartitionState): boolean {
    return this.states.get(state.partition) === state;
  }

  delete(partition: number): void {
    this.states.delete(partition);
  }

  /** The partition's state, made (and its restore from Redis started) on first sight. */
  stateOf(partition: number): PartitionState {
    const known = this.states.get(partition);
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
        if (this.states.get(partition) === state) this.states.delete(partition);
        throw error;
      },
    );
    state.restored.catch(() => undefined); // the batch handler awaits it: no unhandled rejection before then
    this.states.set(partition, state);
    return state;
  }

  /** Restores the partition's pipeline from Redis and takes its offset and max event time. */
  async restore(state: PartitionState): Promise<void> {
    const restored = await this.restoreFrom(state.partition);
    state.next = restored.nextOffset;
    state.maxEventTimeMs = restored.maxEventTimeMs;
  }

  /** True when every partition has been read to its end, as of its last batch. */
  allCaughtUp(): boolean {
    for (const state of this.states.values()) if (!state.caughtUp) return false;
    return true;
  }

  /** Worker watermark: the minimum over the partitions that saw an event within the idle timeout. */
  watermarkMs(nowMs: number): number | null {
    let active = Infinity;
    let any = -Infinity;
    for (const state of this.states.values()) {
      if (state.maxEventTimeMs === null) continue;
      const watermark = state.maxEventTimeMs - this.settings.maxOutOfOrdernessMs;
      any = Math.max(any, watermark);
      if (nowMs - state.lastEventWallMs <= this.settings.idleTimeoutMs) active = Math.min(active, watermark);
    }
    if (Number.isFinite(active)) return active;
    return Number.isFinite(any) ? any : null;
  }
}
