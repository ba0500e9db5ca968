import { isAbsent, type Measure } from './measure.ts';
import { cellField, type DeltaOps } from './speed-face.ts';

export interface AvgState {
  sum: number;
  count: number;
}

/** A pending (sum, count), as an array: the hot path's cheapest shape. */
const deltas: DeltaOps = {
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
 * Mean of a numeric field's non-null values, kept as (sum, count) so it merges exactly: the cell fields
 * `<name>.s` and `<name>.c` (speed) and STRUCT(sum DOUBLE, count BIGINT) (batch).
 */
export function avg(field: string): Measure<AvgState, number | null> {
  return {
    kind: 'avg',
    field,
    args: [],
    fieldTypes: 'numeric',
    output: { type: 'float' },
    zero: () => ({ sum: 0, count: 0 }),
    add: (state, value) => {
      if (isAbsent(value)) return state;
      state.sum += Number(value);
      state.count += 1;
      return state;
    },
    merge: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
    finish: (state) => (state.count === 0 ? null : state.sum / state.count),
    serialize: (state) => `${state.sum}/${state.count}`,
    deserialize: (text) => {
      const [total, n] = text.split('/');
      return { sum: Number(total), count: Number(n) };
    },
    describe: () => `avg(${field})`,
    speed: {
      deltas,
      storage: {
        type: 'cell',
        fields: (name) => [`${name}.s`, `${name}.c`],
        fromCell: (cell, name) => ({ sum: Number(cell[`${name}.s`] ?? 0), count: Number(cell[`${name}.c`] ?? 0) }),
      },
    },
    batch: {
      input: 'value',
      aggregates: (input) => [
        ['.s', `sum(${input})::DOUBLE`],
        ['.c', `count(${input})`],
      ],
      state: (raw) => `{'sum': coalesce(${raw('.s')}, 0), 'count': ${raw('.c')}::BIGINT}`,
      combinePanes: (pane) => [
        ['.s', `sum(${pane('.s')})::DOUBLE`],
        ['.c', `sum(${pane('.c')})::BIGINT`],
      ],
      rollUp: { aggregate: (stored) => `{'sum': sum(${stored}.sum)::DOUBLE, 'count': sum(${stored}.count)::BIGINT}` },
      fromStored: (value) => {
        const { sum, count } = value as { sum: number; count: bigint | number };
        return { sum: Number(sum), count: Number(count) };
      },
    },
  };
}
