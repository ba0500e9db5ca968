import { isAbsent, type Measure } from './measure.ts';
import type { DeltaOps } from './speed-face.ts';

export interface TopKEntry {
  readonly value: string;
  readonly count: number;
}

/** Pending counts by value, added into the cell's zset by ZINCRBY. */
const deltas: DeltaOps = {
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
      const key = target.countsKey();
      for (const [member, n] of counts) program.zIncrBy(key, member, n);
      if (target.needsTtl(key)) program.pExpire(key, target.retentionMs);
    }
  },
};

/**
 * The k most frequent values with their exact counts (ties: smaller value first). Every value's count is kept
 * (a zset per cell in the speed layer, MAP(VARCHAR, BIGINT) in the batch layer), so partitions, windows and
 * layers merge exactly.
 */
export function topK(field: string, k: number): Measure<Map<string, number>, TopKEntry[]> {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`topK(${field}, k): k must be a whole number ≥ 1`);
  return {
    kind: 'topK',
    field,
    args: [k],
    output: {
      type: 'entries',
      entry: {
        name: 'TopKEntry',
        fields: [
          { name: 'value', type: 'string' },
          { name: 'count', type: 'int' },
        ],
      },
    },
    zero: () => new Map(),
    add: (state, value) => {
      if (isAbsent(value)) return state;
      const key = String(value);
      state.set(key, (state.get(key) ?? 0) + 1);
      return state;
    },
    merge: (a, b) => {
      const merged = new Map(a);
      for (const [value, n] of b) merged.set(value, (merged.get(value) ?? 0) + n);
      return merged;
    },
    finish: (state) => topEntries(state, k),
    serialize: (state) => JSON.stringify([...state].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))),
    deserialize: (text) => new Map(JSON.parse(text) as Array<[string, number]>),
    describe: () => `topK(${field}, ${k})`,
    speed: {
      deltas,
      storage: {
        type: 'counts',
        fromCounts: (flat) => {
          const counts = new Map<string, number>();
          for (let at = 0; at < flat.length; at += 2) counts.set(flat[at]!, Number(flat[at + 1]));
          return counts;
        },
      },
    },
    batch: {
      input: 'value',
      aggregates: (input) => [['', `histogram(CAST(${input} AS VARCHAR)) FILTER (WHERE ${input} IS NOT NULL)`]],
      state: (raw) => raw(''),
      fromStored: (value) => new Map(((value as Array<{ key: string; value: bigint | number }> | null) ?? []).map((entry) => [entry.key, Number(entry.value)])),
    },
  };
}

/** The k largest counts, ties broken by value so every layer agrees. */
export function topEntries(counts: Iterable<[string, number]>, k: number): TopKEntry[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, k)
    .map(([value, n]) => ({ value, count: n }));
}
