import { isAbsent, type Measure } from './measure.ts';
import { wholeStateSpeedFace } from './whole-state.ts';

/** The relative error of every quantile returned. */
export const QUANTILE_RELATIVE_ERROR = 0.01;
/** Bucket k holds the magnitudes in (γ^(k−1), γ^k]. */
const GAMMA = (1 + QUANTILE_RELATIVE_ERROR) / (1 - QUANTILE_RELATIVE_ERROR);
const LN_GAMMA = Math.log(GAMMA);
/** ln γ in SQL, parsed from its shortest round-trip text: the same double JavaScript divides by. */
const LN_GAMMA_SQL = `CAST('${LN_GAMMA}' AS DOUBLE)`;

/**
 * A DDSketch-style quantile sketch: counts of values by logarithmic bucket of their magnitude, positive and
 * negative apart, and the zeros. Merging adds counts bucket by bucket, exactly.
 */
export interface QuantilesState {
  readonly positive: Map<number, number>;
  readonly negative: Map<number, number>;
  zeros: number;
}

export interface QuantileEntry {
  readonly quantile: number;
  readonly value: number;
}

/** The bucket of a magnitude > 0; the batch layer computes the same in SQL (`ceil(ln(x) / ln γ)`). */
export const quantileBucket = (magnitude: number): number => Math.ceil(Math.log(magnitude) / LN_GAMMA);

/** A bucket's representative magnitude: within the relative error of every magnitude the bucket holds. */
const bucketValue = (bucket: number): number => (2 * GAMMA ** bucket) / (GAMMA + 1);

const zero = (): QuantilesState => ({ positive: new Map(), negative: new Map(), zeros: 0 });

function add(state: QuantilesState, value: unknown): QuantilesState {
  if (isAbsent(value)) return state;
  const x = Number(value);
  if (!Number.isFinite(x)) return state;
  if (x === 0) state.zeros++;
  else {
    const buckets = x > 0 ? state.positive : state.negative;
    const bucket = quantileBucket(Math.abs(x));
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
  }
  return state;
}

function addCounts(into: Map<number, number>, from: ReadonlyMap<number, number>): Map<number, number> {
  for (const [bucket, n] of from) into.set(bucket, (into.get(bucket) ?? 0) + n);
  return into;
}

const merge = (a: QuantilesState, b: QuantilesState): QuantilesState => ({
  positive: addCounts(new Map(a.positive), b.positive),
  negative: addCounts(new Map(a.negative), b.negative),
  zeros: a.zeros + b.zeros,
});

const mergeInto = (into: QuantilesState, from: QuantilesState): QuantilesState => {
  addCounts(into.positive, from.positive);
  addCounts(into.negative, from.negative);
  into.zeros += from.zeros;
  return into;
};

const isEmpty = (state: QuantilesState): boolean => state.zeros === 0 && state.positive.size === 0 && state.negative.size === 0;

/** Buckets in ascending order of the values they hold: negatives from the largest magnitude, zeros, positives. */
function ascending(state: QuantilesState): Array<[value: number, count: number]> {
  const negative = [...state.negative].sort((a, b) => b[0] - a[0]).map(([bucket, n]): [number, number] => [-bucketValue(bucket), n]);
  const positive = [...state.positive].sort((a, b) => a[0] - b[0]).map(([bucket, n]): [number, number] => [bucketValue(bucket), n]);
  return [...negative, ...(state.zeros > 0 ? [[0, state.zeros] as [number, number]] : []), ...positive];
}

/** Each fraction's value: the value of rank ⌊q·(n − 1)⌋ (from 0) within the relative error; no entries without values. */
function finish(state: QuantilesState, fractions: readonly number[]): QuantileEntry[] {
  const buckets = ascending(state);
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return [];
  return fractions.map((quantile) => {
    const rank = Math.floor(quantile * (total - 1));
    let seen = 0;
    for (const [value, n] of buckets) {
      seen += n;
      if (seen > rank) return { quantile, value };
    }
    return { quantile, value: buckets[buckets.length - 1]![0] };
  });
}

const serialize = (state: QuantilesState): string =>
  JSON.stringify({ p: [...state.positive].sort((a, b) => a[0] - b[0]), n: [...state.negative].sort((a, b) => a[0] - b[0]), z: state.zeros });

function deserialize(text: string): QuantilesState {
  const { p, n, z } = JSON.parse(text) as { p: Array<[number, number]>; n: Array<[number, number]>; z: number };
  return { positive: new Map(p), negative: new Map(n), zeros: z };
}

/** A stored MAP(INTEGER, BIGINT) as @duckdb/node-api returns it. */
const storedCounts = (value: unknown): Map<number, number> =>
  new Map(((value as Array<{ key: number; value: bigint | number }> | null) ?? []).map((entry) => [Number(entry.key), Number(entry.value)]));

/**
 * Quantiles of a numeric field's non-null values, each within {@link QUANTILE_RELATIVE_ERROR} (1 %) of the
 * value of its rank: a mergeable sketch of logarithmic buckets (DDSketch's), built alike by the speed layer in
 * JavaScript and by DuckDB in SQL, so batch and speed states merge exactly at the cutoff and in roll-ups. Its
 * size grows with the range of magnitudes seen (about 230 buckets per factor of 10), not with the count.
 * Stored whole per partition in the speed layer and as STRUCT(pos MAP(INTEGER, BIGINT), neg MAP(INTEGER,
 * BIGINT), zeros BIGINT) in the batch layer.
 *
 * @example
 * quantiles('latency_ms', [0.5, 0.95, 0.99]) // → [{ quantile: 0.5, value: 41.8 }, …]
 */
export function quantiles(field: string, fractions: readonly number[] = [0.5, 0.95, 0.99]): Measure<QuantilesState, QuantileEntry[]> {
  if (!Array.isArray(fractions) || fractions.length === 0 || !fractions.every((q) => typeof q === 'number' && q >= 0 && q <= 1)) {
    throw new RangeError(`quantiles(${field}, fractions): fractions must be a non-empty list of numbers from 0 to 1`);
  }
  const list = [...fractions];
  // DuckDB evaluates an aggregate's argument on rows its FILTER leaves out: ln() sees only positive, finite magnitudes.
  const sqlBucket = (magnitude: string) => `CAST(ceil(ln(CASE WHEN ${magnitude} > 0 AND isfinite(${magnitude}::DOUBLE) THEN ${magnitude} END) / ${LN_GAMMA_SQL}) AS INTEGER)`;
  return {
    kind: 'quantiles',
    field,
    args: [list],
    fieldTypes: 'numeric',
    output: {
      type: 'entries',
      entry: {
        name: 'QuantileEntry',
        fields: [
          { name: 'quantile', type: 'float' },
          { name: 'value', type: 'float' },
        ],
      },
    },
    zero,
    add,
    merge,
    mergeInto,
    finish: (state) => finish(state, list),
    serialize,
    deserialize,
    describe: () => `quantiles(${field}, [${list.join(', ')}])`,
    speed: wholeStateSpeedFace({ zero, add, merge, serialize, deserialize }, isEmpty),
    batch: {
      input: 'value',
      aggregates: (input) => {
        const finite = `isfinite(${input}::DOUBLE)`;
        return [
          ['.p', `histogram(${sqlBucket(input)}) FILTER (WHERE ${input} > 0 AND ${finite})`],
          ['.n', `histogram(${sqlBucket(`(-${input})`)}) FILTER (WHERE ${input} < 0 AND ${finite})`],
          ['.z', `count(*) FILTER (WHERE ${input} = 0)`],
        ];
      },
      state: (raw) => `{'pos': ${raw('.p')}, 'neg': ${raw('.n')}, 'zeros': ${raw('.z')}::BIGINT}`,
      fromStored: (value) => {
        const { pos, neg, zeros } = value as { pos: unknown; neg: unknown; zeros: bigint | number };
        return { positive: storedCounts(pos), negative: storedCounts(neg), zeros: Number(zeros) };
      },
    },
  };
}
