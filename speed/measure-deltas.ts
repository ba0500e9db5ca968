import { redisHllPosition, type Measure } from '../shared/measures/index.ts';
import type { FlushProgram } from './flush-program.ts';
import type { PartitionSketch } from './partition-sketch.ts';
import { cellField, ROW_COUNT } from '../shared/speed-contract/index.ts';

/**
 * How each measure's pending delta is kept in memory between flushes and
 * merged into Redis by the flush script. Merging into Redis is the monoid's
 * `merge` carried out in Redis: integer and double increments for counts and
 * sums, keep-min/keep-max, ZINCRBY for top-k counts. approxDistinct is the
 * exception: the pipeline keeps its partition's whole sketch of each open cell
 * and writes it whole when it grows (speed/partition-sketch.ts).
 */
export interface DeltaOps {
  zero(): unknown;
  add(delta: unknown, value: unknown): unknown;
  /** `into` with `from` merged in (`into` may be updated in place; `from` is left as it is). */
  merge(into: unknown, from: unknown): unknown;
  /**
   * Writes this measure (at `measureIndex` of each cell's deltas) for every cell of one window, setting
   * `target.groupKey` to each cell's key in turn. The loop over the cells is each kind's own: a loop shared
   * by all kinds, calling each kind's write per cell, was one large polymorphic function for the JIT,
   * compiled anew (50–70 ms on a helper thread each time) whenever it met another kind or view.
   */
  emitCells(program: FlushProgram, target: DeltaTarget, cells: PendingCells, measureIndex: number): void;
}

/** One window's pending cells by group key, as an operator hands them to {@link DeltaOps.emitCells}. */
export type PendingCells = ReadonlyMap<string, { readonly deltas: readonly unknown[] }>;

export interface DeltaTarget {
  /** Hash of the window. */
  readonly hashKey: string;
  /** The cell being written: set by {@link DeltaOps.emitCells} before it asks for the cell's sketch key, field or sketch. */
  groupKey: string;
  readonly measureName: string;
  /** Key of this cell's top-k zset. */
  readonly sketchKey: () => string;
  /** Hash of the window's approxDistinct sketches for this measure. */
  readonly sketchesKey: string;
  /** This partition's field of the cell in {@link sketchesKey}. */
  readonly sketchField: () => string;
  /** This partition's sketch of the cell, as stored (created empty on first use). */
  readonly partitionSketch: () => PartitionSketch;
  readonly retentionMs: number;
  /** True the first time this worker writes `sketchKey` (its TTL is then set once). */
  readonly needsTtl: (sketchKey: string) => boolean;
}

const isAbsent = (value: unknown) => value === null || value === undefined;

const countOps: DeltaOps = {
  // count() is the cell's row count, which every cell keeps anyway.
  zero: () => 0,
  add: () => 0,
  merge: () => 0,
  emitCells: () => undefined,
};

const sumOps: DeltaOps = {
  zero: () => null,
  add: (delta, value) => (isAbsent(value) ? delta : ((delta as number | null) ?? 0) + Number(value)),
  merge: (into, from) => (from === null ? into : into === null ? from : (into as number) + (from as number)),
  emitCells: (program, target, cells, measureIndex) => {
    for (const [groupKey, { deltas }] of cells) {
      const delta = deltas[measureIndex] as number | null;
      if (delta !== null) program.incrByFloat(target.hashKey, cellField(groupKey, target.measureName), delta);
    }
  },
};

function extremeOps(kind: 'min' | 'max'): DeltaOps {
  const pick = kind === 'min' ? Math.min : Math.max;
  return {
    zero: () => null,
    add: (delta, value) => (isAbsent(value) ? delta : delta === null ? Number(value) : pick(delta as number, Number(value))),
    merge: (into, from) => (from === null ? into : into === null ? from : pick(into as number, from as number)),
    emitCells: (program, target, cells, measureIndex) => {
      for (const [groupKey, { deltas }] of cells) {
        const delta = deltas[measureIndex] as number | null;
        if (delta === null) continue;
        const field = cellField(groupKey, target.measureName);
        if (kind === 'min') program.keepMin(target.hashKey, field, delta);
        else program.keepMax(target.hashKey, field, delta);
      }
    },
  };
}

const avgOps: DeltaOps = {
  zero: () => [0, 0],
  add: (delta, value) => {
    if (isAbsent(value)) return delta;
    const state = delta as [number, number];
    state[0] += Number(value);
    state[1] += 1;
    return state;
  },
  merge: (into, from) => {
    const state = into as [number, number];
    state[0] += (from as [number, number])[0];
    state[1] += (from as [number, number])[1];
    return state;
  },
  emitCells: (program, target, cells, measureIndex) => {
    for (const [groupKey, { deltas }] of cells) {
      const [total, n] = deltas[measureIndex] as [number, number];
      if (n === 0) continue;
      program.incrByFloat(target.hashKey, cellField(groupKey, `${target.measureName}.s`), total);
      program.incrBy(target.hashKey, cellField(groupKey, `${target.measureName}.c`), n);
    }
  },
};

/**
 * The HyperLogLog positions (register × 64 + value, as PFADD would hash them)
 * of the elements seen, repeats included; folded into the partition's sketch
 * of the cell at the checkpoint, which is written only if a register grew.
 */
const distinctOps: DeltaOps = {
  zero: () => [] as number[],
  add: (delta, value) => {
    if (!isAbsent(value)) (delta as number[]).push(redisHllPosition(String(value)));
    return delta;
  },
  merge: (into, from) => {
    const positions = into as number[];
    for (const position of from as number[]) positions.push(position);
    return into;
  },
  emitCells: (program, target, cells, measureIndex) => {
    for (const [groupKey, { deltas }] of cells) {
      const positions = deltas[measureIndex] as number[];
      if (positions.length === 0) continue;
      target.groupKey = groupKey;
      const sketch = target.partitionSketch();
      let grew = false;
      for (let index = 0; index < positions.length; index++) if (sketch.add(positions[index]!)) grew = true;
      if (grew) writeSketch(program, target, sketch);
    }
  },
};

/** Writes a partition's sketch of a cell whole, under its field of the window's sketch hash. */
function writeSketch(program: FlushProgram, target: DeltaTarget, sketch: PartitionSketch): void {
  program.hSetBytes(target.sketchesKey, target.sketchField(), sketch.toBytes());
  program.pExpire(target.sketchesKey, target.retentionMs);
}

/**
 * The approxDistinct elements of a pipeline's tumbling cells between flushes: (sketch slot, HyperLogLog
 * position) pairs in one Int32Array, reused from flush to flush. A tumbling cell is its whole window, so
 * its elements belong in the partition's sketch of it; they are taken in at the checkpoint, grouped by
 * sketch, rather than one by one as events come (a walk through the sketch's objects per event, costly
 * with the cores and their caches shared with Kafka and Redis) or as a list of positions per cell (which
 * grew with every event and was copied by the garbage collector until the flush). Sliding panes feed
 * several windows and keep positions ({@link distinctOps}).
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
 * approxDistinct of tumbling cells: the delta is the cell's slot in `log` (given by the operator), and a
 * sketch is written whole when a register grew since its last write.
 */
export function loggedDistinctOps(log: SketchLog): DeltaOps {
  return {
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
        writeSketch(program, target, sketch);
      }
    },
  };
}

const topKOps: DeltaOps = {
  zero: () => new Map<string, number>(),
  add: (delta, value) => {
    if (isAbsent(value)) return delta;
    const counts = delta as Map<string, number>;
    const key = String(value);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return counts;
  },
  merge: (into, from) => {
    const counts = into as Map<string, number>;
    for (const [key, n] of from as Map<string, number>) counts.set(key, (counts.get(key) ?? 0) + n);
    return counts;
  },
  emitCells: (program, target, cells, measureIndex) => {
    for (const [groupKey, { deltas }] of cells) {
      const counts = deltas[measureIndex] as Map<string, number>;
      if (counts.size === 0) continue;
      target.groupKey = groupKey;
      const key = target.sketchKey();
      for (const [member, n] of counts) program.zIncrBy(key, member, n);
      if (target.needsTtl(key)) program.pExpire(key, target.retentionMs);
    }
  },
};

export function deltaOpsFor(measure: Measure): DeltaOps {
  switch (measure.kind) {
    case 'count':
      return countOps;
    case 'sum':
      return sumOps;
    case 'min':
    case 'max':
      return extremeOps(measure.kind);
    case 'avg':
      return avgOps;
    case 'approxDistinct':
      return distinctOps;
    case 'topK':
      return topKOps;
  }
}

/** Emits the row count (the `#` field every cell has) of each of a window's cells. */
export function emitRowCounts(program: FlushProgram, hashKey: string, cells: ReadonlyMap<string, { readonly rows: number }>): void {
  for (const [groupKey, { rows }] of cells) program.incrBy(hashKey, cellField(groupKey, ROW_COUNT), rows);
}
