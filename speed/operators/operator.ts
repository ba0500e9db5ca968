import type { Redis } from 'ioredis';
import type { View } from '../../shared/views/index.ts';
import type { FlushProgram } from '../flush-program.ts';
import type { SpeedKeys } from '../../shared/speed-contract/index.ts';

/** Where an operator instance runs: one view, one Kafka partition. */
export interface OperatorContext {
  readonly view: View;
  readonly keys: SpeedKeys;
  /** Consumer group computing the view (recorded beside its data). */
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /**
   * Sketch keys given their TTL, shared by this view's operators on every partition one
   * thread holds (each would otherwise set the TTL of the same key once per partition).
   * Default: the operator's own.
   */
  readonly sketchTtls?: SketchTtls | undefined;
}

/**
 * Top-k sketch keys already given their TTL, per window start.
 * A window takes writes only until its end + allowed lateness, so a TTL set at
 * first write (retention ≥ window + lateness) never needs renewing; windows are
 * forgotten once closed. Forgetting more than needed only renews a TTL.
 * A TTL lost with a refused flush is why the owner clears this when a partition
 * is restored; a sketch that still misses one is given one when the batch layer
 * hands its window over.
 */
export class SketchTtls {
  private readonly byWindow = new Map<number, Set<string>>();

  /** True the first time `key` of the window starting at `startMs` is seen: its TTL is to be set. */
  claim(startMs: number, key: string): boolean {
    let keys = this.byWindow.get(startMs);
    if (keys === undefined) this.byWindow.set(startMs, (keys = new Set()));
    if (keys.has(key)) return false;
    keys.add(key);
    return true;
  }

  /** Forgets the windows for which `closed(startMs)` holds. */
  forget(closed: (startMs: number) => boolean): void {
    for (const startMs of this.byWindow.keys()) if (closed(startMs)) this.byWindow.delete(startMs);
  }

  clear(): void {
    this.byWindow.clear();
  }
}

/**
 * The lifecycle every speed operator implements (after Arroyo's): restore on
 * start, process events, react to watermarks, write pending state at each
 * checkpoint (flush), close. One instance per view per assigned partition.
 */
export interface Operator {
  /**
   * Restores state this partition left in Redis (open sessions, sketches of open windows), given the
   * partition's restored watermark (−Infinity when Redis holds none).
   */
  onStart(redis: Redis, partitionWatermarkMs: number): Promise<void>;
  /**
   * Adds one event. `partitionWatermarkMs` is the partition's watermark before
   * the event; returns false if the event was too late for every window it
   * belongs to (it is then not counted).
   */
  process(event: Record<string, unknown>, groupKey: string, eventTimeMs: number, partitionWatermarkMs: number): boolean;
  /** The partition watermark advanced (sessions close here). */
  onWatermark(partitionWatermarkMs: number): void;
  /** Writes everything pending into `program` and forgets it (the flush is retried or the partition reset on failure). */
  onCheckpoint(program: FlushProgram, partitionWatermarkMs: number): void;
  onClose(): void;
  /** Cells (window × key) waiting for the next flush: the memory bound's unit. */
  readonly pendingCells: number;
  /** approxDistinct sketches kept between flushes (memory a flush does not free): those of the windows still open. */
  readonly heldSketches: number;
}

/** Lateness rule shared by every window type: a window whose end + allowed lateness the watermark has reached takes no more events. */
export function windowAcceptsAt(windowEndMs: number, allowedLatenessMs: number, partitionWatermarkMs: number): boolean {
  return windowEndMs + allowedLatenessMs > partitionWatermarkMs;
}

/**
 * A new array of `count` values, `value(index)` each, for state the hot path stores into (a cell's deltas,
 * a session's measure states). Not `Array.prototype.map`: V8's builtin map makes a packed array, and the
 * same call made from optimized code a holey one; code storing into such arrays then meets a second map,
 * is thrown away and compiled again, in every pipeline thread, early in every run.
 */
export function arrayOf<T>(count: number, value: (index: number) => T): T[] {
  const array = new Array<T>(count);
  for (let index = 0; index < count; index++) array[index] = value(index);
  return array;
}
