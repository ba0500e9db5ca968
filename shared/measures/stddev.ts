import { isAbsent, type Measure } from './measure.ts';
import { wholeStateSpeedFace } from './whole-state.ts';

/** Count, mean and M2 (the sum of squared differences from the mean): Welford's state, merged by Chan's formula. */
export interface StddevState {
  readonly count: number;
  readonly mean: number;
  readonly m2: number;
}

const ZERO: StddevState = { count: 0, mean: 0, m2: 0 };

function add(state: StddevState, value: unknown): StddevState {
  if (isAbsent(value)) return state;
  const x = Number(value);
  const count = state.count + 1;
  const delta = x - state.mean;
  const mean = state.mean + delta / count;
  return { count, mean, m2: state.m2 + delta * (x - mean) };
}

function merge(a: StddevState, b: StddevState): StddevState {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  return { count, mean: a.mean + (delta * b.count) / count, m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count };
}

const serialize = (state: StddevState): string => `${state.count}/${state.mean}/${state.m2}`;

function deserialize(text: string): StddevState {
  const [count, mean, m2] = text.split('/').map(Number);
  return { count: count!, mean: mean!, m2: m2! };
}

/**
 * Sample standard deviation of a numeric field's non-null values (as SQL's `stddev`): null below two values.
 * Kept as (count, mean, M2), which merges exactly across partitions, windows and the batch cutoff; stored whole
 * per partition in the speed layer and as STRUCT(count BIGINT, mean DOUBLE, m2 DOUBLE) in the batch layer.
 */
export function stddev(field: string): Measure<StddevState, number | null> {
  return {
    kind: 'stddev',
    field,
    args: [],
    fieldTypes: 'numeric',
    output: { type: 'float' },
    zero: () => ZERO,
    add,
    merge,
    finish: (state) => (state.count < 2 ? null : Math.sqrt(Math.max(0, state.m2) / (state.count - 1))),
    serialize,
    deserialize,
    describe: () => `stddev(${field})`,
    speed: wholeStateSpeedFace({ zero: () => ZERO, add, merge, serialize, deserialize }, (state) => state.count === 0),
    batch: {
      input: 'value',
      aggregates: (input) => [
        ['.n', `count(${input})`],
        ['.m', `avg(${input})::DOUBLE`],
        ['.v', `var_pop(${input})::DOUBLE`],
      ],
      state: (raw) => `{'count': ${raw('.n')}::BIGINT, 'mean': coalesce(${raw('.m')}, 0), 'm2': coalesce(${raw('.v')} * ${raw('.n')}, 0)}`,
      fromStored: (value) => {
        const { count, mean, m2 } = value as { count: bigint | number; mean: number; m2: number };
        return { count: Number(count), mean: Number(mean), m2: Number(m2) };
      },
    },
  };
}
