import { redisHllPosition } from './redis-hll.ts';
import type { PartitionSketch } from './partition-sketch.ts';
import { isAbsent } from './measure.ts';
import { writeHeldState, type TumblingDeltas } from './speed-face.ts';

/**
 * The approxDistinct elements of a pipeline's tumbling cells between flushes: (sketch slot, HyperLogLog
 * position) pairs in one Int32Array, reused from flush to flush. A tumbling cell is its whole window, so
 * its elements belong in the partition's sketch of it; they are taken in at the checkpoint, grouped by
 * sketch, rather than one by one as events come (a walk through the sketch's objects per event, costly
 * with the cores and their caches shared with Kafka and Redis) or as a list of positions per cell (which
 * grew with every event and was copied by the garbage collector until the flush). Sliding panes feed
 * several windows and keep positions (approx-distinct.ts).
 */
export class SketchLog {
  /** The sketch of each slot: one per cell and approxDistinct measure, until {@link clear}. */
  readonly sketches: PartitionSketch[] = [];
  /** Allocated on the first push: operators without approxDistinct never log. */
  private entries = new Int32Array(0);
  private length = 0;

  /** A slot for `sketch`, until {@link clear}. */
  slot(sketch: PartitionSketch): number {
    return this.sketches.push(sketch) - 1;
  }

  push(slot: number, position: number): void {
    let entries = this.entries;
    if (this.length + 2 > entries.length) {
      const grown = new Int32Array(Math.max(4_096, entries.length * 2));
      grown.set(entries);
      this.entries = entries = grown;
    }
    entries[this.length] = slot;
    entries[this.length + 1] = position;
    this.length += 2;
  }

  /**
   * Takes every logged position into its slot's sketch, sketch by sketch, and marks those that grew unwritten.
   * The sort and the adding are functions of their own: one function holding all the loops was compiled by the
   * JIT in the middle of its first loop, then thrown away and compiled again at each later loop (none had run yet).
   */
  fold(): void {
    if (this.length === 0) return;
    const { sorted, ends } = sortBySlot(this.entries, this.length, this.sketches.length);
    addSorted(this.sketches, sorted, ends);
    this.length = 0;
  }

  /** Forgets the slots and any positions not folded (after a checkpoint, or when the pipeline is reset). */
  clear(): void {
    this.sketches.length = 0;
    this.length = 0;
  }
}

/**
 * A counting sort of (slot, position) pairs by slot: the positions, and after each slot's run the index where
 * it ends. Each sketch then takes all its positions at once, while it is in the cache.
 */
function sortBySlot(entries: Int32Array, length: number, slots: number): { sorted: Int32Array; ends: Int32Array } {
  const ends = slotStarts(entries, length, slots);
  const sorted = new Int32Array(length / 2);
  // Each slot's counter moves from its start to its end.
  for (let at = 0; at < length; at += 2) sorted[ends[entries[at]!]!++] = entries[at + 1]!;
  return { sorted, ends };
}

/** Where each slot's run starts in the sorted positions (a function of its own, like each loop here: see {@link SketchLog.fold}). */
function slotStarts(entries: Int32Array, length: number, slots: number): Int32Array {
  const starts = new Int32Array(slots + 1);
  for (let at = 0; at < length; at += 2) starts[entries[at]! + 1]!++;
  for (let slot = 0; slot < slots; slot++) starts[slot + 1]! += starts[slot]!;
  return starts;
}

/** Adds each slot's run of `sorted` (ending at `ends[slot]`) into its sketch; a sketch that grew is marked unwritten. */
function addSorted(sketches: readonly PartitionSketch[], sorted: Int32Array, ends: Int32Array): void {
  let from = 0;
  for (let slot = 0; slot < sketches.length; slot++) {
    const to = ends[slot]!;
    const sketch = sketches[slot]!;
    let grew = false;
    for (let at = from; at < to; at++) if (sketch.add(sorted[at]!)) grew = true;
    if (grew) sketch.unwritten = true;
    from = to;
  }
}

/**
 * approxDistinct of tumbling cells, for one operator: the delta of a cell is its sketch's slot in the
 * operator's log, and a sketch is written whole when a register grew since its last write.
 */
export function loggedDistinct(): TumblingDeltas {
  const log = new SketchLog();
  const ops: TumblingDeltas['ops'] = {
    zero: () => -1,
    add: (slot, value) => {
      if (!isAbsent(value)) log.push(slot as number, redisHllPosition(String(value)));
      return slot;
    },
    merge: () => {
      throw new Error('a tumbling approxDistinct delta is never merged');
    },
    emitCells: (program, target, cells, measureIndex) => {
      for (const [groupKey, { deltas }] of cells) {
        const sketch = log.sketches[deltas[measureIndex] as number]!;
        if (!sketch.unwritten) continue;
        sketch.unwritten = false;
        target.groupKey = groupKey;
        writeHeldState(program, target, sketch);
      }
    },
  };
  return {
    ops,
    cellDelta: (held) => log.slot(held as PartitionSketch),
    fold: () => log.fold(),
    clear: () => log.clear(),
  };
}

