import { redisHllPosition, type Measure } from '../shared/measures/index.ts';
import type { FlushProgram } from './flush-program.ts';
import type { PartitionSketch } from './partition-sketch.ts';
import { cellField, ROW_COUNT } from './redis-keys.ts';

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
  emit(program: FlushProgram, target: DeltaTarget, delta: unknown): void;
}

export interface DeltaTarget {
  /** Hash of the window. */
  readonly hashKey: string;
  readonly groupKey: string;
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
  emit: () => undefined,
};

const sumOps: DeltaOps = {
  zero: () => null,
  add: (delta, value) => (isAbsent(value) ? delta : ((delta as number | null) ?? 0) + Number(value)),
  merge: (into, from) => (from === null ? into : into === null ? from : (into as number) + (from as number)),
  emit: (program, target, delta) => {
    if (delta !== null) program.incrByFloat(target.hashKey, cellField(target.groupKey, target.measureName), delta as number);
  },
};

function extremeOps(kind: 'min' | 'max'): DeltaOps {
  const pick = kind === 'min' ? Math.min : Math.max;
  return {
    zero: () => null,
    add: (delta, value) => (isAbsent(value) ? delta : delta === null ? Number(value) : pick(delta as number, Number(value))),
    merge: (into, from) => (from === null ? into : into === null ? from : pick(into as number, from as number)),
    emit: (program, target, delta) => {
      if (delta === null) return;
      const field = cellField(target.groupKey, target.measureName);
      if (kind === 'min') program.keepMin(target.hashKey, field, delta as number);
      else program.keepMax(target.hashKey, field, delta as number);
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
  emit: (program, target, delta) => {
    const [total, n] = delta as [number, number];
    if (n === 0) return;
    program.incrByFloat(target.hashKey, cellField(target.groupKey, `${target.measureName}.s`), total);
    program.incrBy(target.hashKey, cellField(target.groupKey, `${target.measureName}.c`), n);
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
  emit: (program, target, delta) => {
    const positions = delta as number[];
    if (positions.length === 0) return;
    const sketch = target.partitionSketch();
    let grew = false;
    for (let index = 0; index < positions.length; index++) if (sketch.add(positions[index]!)) grew = true;
    if (!grew) return;
    program.hSetBytes(target.sketchesKey, target.sketchField(), sketch.toBytes());
    program.pExpire(target.sketchesKey, target.retentionMs);
  },
};

/**
 * approxDistinct where a cell is a whole window (tumbling): the delta is the partition's sketch of the
 * cell itself, which takes each element as it comes, so nothing is kept per event (a list of positions
 * grew with every event and was copied by the garbage collector until the flush); the sketch is written
 * whole when a register grew since its last write. Sliding panes, which feed several windows, keep
 * positions ({@link distinctOps}).
 */
export const directDistinctOps: DeltaOps = {
  zero: () => null, // the operator puts the cell's sketch in
  add: (delta, value) => {
    const sketch = delta as PartitionSketch;
    if (!isAbsent(value) && sketch.add(redisHllPosition(String(value)))) sketch.unwritten = true;
    return delta;
  },
  merge: () => {
    throw new Error('a whole-window approxDistinct delta is never merged');
  },
  emit: (program, target, delta) => {
    const sketch = delta as PartitionSketch;
    if (!sketch.unwritten) return;
    sketch.unwritten = false;
    program.hSetBytes(target.sketchesKey, target.sketchField(), sketch.toBytes());
    program.pExpire(target.sketchesKey, target.retentionMs);
  },
};

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
  emit: (program, target, delta) => {
    const counts = delta as Map<string, number>;
    if (counts.size === 0) return;
    const key = target.sketchKey();
    for (const [member, n] of counts) program.zIncrBy(key, member, n);
    if (target.needsTtl(key)) program.pExpire(key, target.retentionMs);
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

/** Emits the row count of a cell (the `#` field every cell has). */
export function emitRowCount(program: FlushProgram, hashKey: string, groupKey: string, rows: number): void {
  program.incrBy(hashKey, cellField(groupKey, ROW_COUNT), rows);
}
