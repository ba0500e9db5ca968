import { isAbsent, type Measure } from './measure.ts';
import { PartitionSketch } from './partition-sketch.ts';
import { RedisHll, redisHllPosition } from './redis-hll.ts';
import { loggedDistinct } from './sketch-log.ts';
import { writeHeldState, type DeltaOps } from './speed-face.ts';

/** A stored sketch whose position list is longer than this keeps only each register's largest value. */
const POSITIONS_KEPT_WHOLE = 256;

/** SQL: of a position list sorted in descending order, the first (largest) position of each register. */
const onePerRegister = (sorted: string): string => `list_filter(${sorted}, lambda x, i: i = 1 OR (${sorted}[i - 1] >> 6) <> (x >> 6))`;

/**
 * Sliding panes: the HyperLogLog positions (register × 64 + value, as PFADD would hash them) of the elements
 * seen, repeats included; folded into the partition's sketch of each window at the checkpoint, which is
 * written only if a register grew.
 */
const deltas: DeltaOps = {
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
      const sketch = target.heldState() as PartitionSketch;
      let grew = false;
      for (let index = 0; index < positions.length; index++) if (sketch.add(positions[index]!)) grew = true;
      if (grew) writeHeldState(program, target, sketch);
    }
  },
};

/**
 * Approximate count of distinct values with Redis's own HyperLogLog (16384 registers, ~0.81 % standard error),
 * so speed, batch and serving merge one and the same sketch. Values are counted by their string form. The
 * speed layer keeps each partition's registers of a cell ({@link PartitionSketch}); the batch layer stores each
 * value's register position, so a count that straddles the batch cutoff is a union of registers, never a sum
 * of two estimates.
 */
export function approxDistinct(field: string): Measure<RedisHll, number> {
  return {
    kind: 'approxDistinct',
    field,
    args: [],
    output: { type: 'int' },
    zero: () => RedisHll.empty(),
    add: (state, value) => {
      if (!isAbsent(value)) state.add(String(value));
      return state;
    },
    merge: (a, b) => {
      const merged = a.clone();
      merged.merge(b);
      return merged;
    },
    mergeInto: (into, from) => {
      into.merge(from);
      return into;
    },
    finish: (state) => state.count(),
    serialize: (state) => state.serialize(),
    deserialize: (text) => RedisHll.deserialize(text),
    describe: () => `approxDistinct(${field})`,
    speed: {
      deltas,
      tumbling: loggedDistinct,
      storage: {
        type: 'partitions',
        empty: () => new PartitionSketch(),
        restore: (bytes) => PartitionSketch.fromBytes(bytes),
        fromPartitions: (parts) => PartitionSketch.union(parts),
      },
    },
    batch: {
      // Positions, duplicates and NULLs (events without a value) included: cleaning every short list costs
      // more than it saves. A long list (NULLs dropped and sorted descending by `prepare`) keeps one position
      // per register, its largest: a position stays when its register (position >> 6) differs from the one
      // before, so a stored sketch is bounded by the register count however many events it counts.
      input: 'hllPosition',
      aggregates: (input) => [['', `list(${input})`]],
      prepare: (raw) => `CASE WHEN len(${raw}) <= ${POSITIONS_KEPT_WHOLE} THEN ${raw} ELSE list_reverse_sort(list_filter(${raw}, lambda x: x IS NOT NULL)) END`,
      state: (raw) => `CASE WHEN len(${raw('')}) <= ${POSITIONS_KEPT_WHOLE} THEN ${raw('')} ELSE ${onePerRegister(raw(''))} END`,
      // A bucket's positions, largest first, then one per register.
      rollUp: {
        aggregate: (stored) => `list_reverse_sort(list_filter(flatten(list(${stored})), lambda x: x IS NOT NULL))`,
        tidy: onePerRegister,
      },
      fromStored: (value) => RedisHll.fromPositions(((value as Array<number | null> | null) ?? []).filter((position): position is number => position !== null)),
    },
  };
}
