import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUANTILE_RELATIVE_ERROR, quantiles, type QuantilesState } from '../../shared/measures/index.ts';
import { batchStateOf } from './helpers/measure-faces.ts';

const FRACTIONS = [0, 0.25, 0.5, 0.95, 0.99, 1];
const measure = quantiles('latency', FRACTIONS);
const TRIALS = 150;

/** Magnitudes over twelve orders of both signs, zeros, repeats and nulls. */
function values(rng: RandomGenerator, maxLength = 40): Array<number | null> {
  return Array.from({ length: uniformInt(rng, 0, maxLength) }, () => {
    const roll = uniformFloat64(rng);
    if (roll < 0.08) return null;
    if (roll < 0.14) return 0;
    if (roll < 0.2) return 42;
    const magnitude = uniformFloat64(rng) * 10 ** uniformInt(rng, -6, 6);
    return roll < 0.35 ? -magnitude : magnitude;
  });
}

const stateOf = (list: ReadonlyArray<number | null>): QuantilesState => list.reduce<QuantilesState>((state, value) => measure.add(state, value), measure.zero());

/** The value of rank ⌊q·(n − 1)⌋ of the sorted non-null values: what each quantile approximates. */
function exactQuantiles(list: ReadonlyArray<number | null>): Array<{ quantile: number; value: number }> {
  const sorted = list.filter((value): value is number => value !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  return FRACTIONS.map((quantile) => ({ quantile, value: sorted[Math.floor(quantile * (sorted.length - 1))]! }));
}

function expectWithinError(actual: ReadonlyArray<{ quantile: number; value: number }>, expected: ReadonlyArray<{ quantile: number; value: number }>): void {
  expect(actual.map((entry) => entry.quantile)).toEqual(expected.map((entry) => entry.quantile));
  actual.forEach((entry, index) => {
    const truth = expected[index]!.value;
    expect(Math.abs(entry.value - truth), `q${entry.quantile}: ${entry.value} vs ${truth}`).toBeLessThanOrEqual(QUANTILE_RELATIVE_ERROR * Math.abs(truth) + 1e-12);
  });
}

describe('quantiles', () => {
  it('gives each fraction within the stated relative error of the value of its rank; nothing without values', () => {
    expect(measure.finish(measure.zero())).toEqual([]);
    expect(measure.finish(stateOf([null]))).toEqual([]);
    expect(measure.finish(stateOf([0, 0]))).toEqual(FRACTIONS.map((quantile) => ({ quantile, value: 0 })));
    const rng = xoroshiro128plus(31);
    for (let trial = 0; trial < TRIALS; trial++) {
      const list = values(rng);
      expectWithinError(measure.finish(stateOf(list)), exactQuantiles(list));
    }
  });

  it('holds its error over a large skewed sample', () => {
    const rng = xoroshiro128plus(32);
    // Latency-like: most values small, a long tail.
    const list = Array.from({ length: 50_000 }, () => Math.exp(uniformFloat64(rng) * 8) * (uniformFloat64(rng) < 0.01 ? 100 : 1));
    expectWithinError(measure.finish(stateOf(list)), exactQuantiles(list));
  });

  it('merges exactly: any split of the values gives the state of all of them, in any grouping and order', () => {
    const rng = xoroshiro128plus(33);
    for (let trial = 0; trial < TRIALS; trial++) {
      const list = values(rng, 60);
      const cuts = [uniformInt(rng, 0, list.length), uniformInt(rng, 0, list.length)].sort((a, b) => a - b);
      const [a, b, c] = [list.slice(0, cuts[0]), list.slice(cuts[0], cuts[1]), list.slice(cuts[1])].map(stateOf);
      const all = measure.serialize(stateOf(list));
      expect(measure.serialize(measure.merge(measure.merge(a!, b!), c!))).toBe(all);
      expect(measure.serialize(measure.merge(c!, measure.merge(b!, a!)))).toBe(all);
      expect(measure.serialize(measure.merge(measure.zero(), a!))).toBe(measure.serialize(a!));
      // merge leaves its inputs as they were.
      const before = measure.serialize(a!);
      measure.add(measure.merge(a!, b!), 7);
      expect(measure.serialize(a!)).toBe(before);
    }
  });

  it('round-trips its stored text exactly', () => {
    const rng = xoroshiro128plus(34);
    for (let trial = 0; trial < TRIALS; trial++) {
      const text = measure.serialize(stateOf(values(rng)));
      expect(measure.serialize(measure.deserialize(text))).toBe(text);
    }
  });

  it('rejects fractions outside 0…1 and an empty list', () => {
    expect(() => quantiles('latency', [])).toThrow(/non-empty list of numbers from 0 to 1/);
    expect(() => quantiles('latency', [1.5])).toThrow(/from 0 to 1/);
    expect(quantiles('latency').describe()).toBe('quantiles(latency, [0.5, 0.95, 0.99])');
  });

  it('its speed face merges the partitions’ stored states', () => {
    const storage = measure.speed.storage;
    if (storage.type !== 'partitions') throw new Error('quantiles are stored by partition');
    const a = stateOf([1, 2, 3, -4]);
    const b = stateOf([0, 20, 3]);
    const bytes = (state: QuantilesState) => new TextEncoder().encode(measure.serialize(state));
    expect(measure.serialize(storage.fromPartitions([bytes(a), bytes(b)]))).toBe(measure.serialize(measure.merge(a, b)));
  });

  describe('its batch face', () => {
    let connection: DuckDBConnection;
    beforeAll(async () => {
      connection = await (await DuckDBInstance.create(':memory:')).connect();
    });
    afterAll(() => connection?.closeSync());

    it('builds in DuckDB, bucket for bucket, the sketch JavaScript builds', async () => {
      const rng = xoroshiro128plus(35);
      for (let trial = 0; trial < 20; trial++) {
        const list = [...values(rng, 400), 1, -1, 1.0201, 0.5];
        for (const type of ['DOUBLE', 'BIGINT'] as const) {
          const typed = type === 'BIGINT' ? list.map((value) => (value === null ? null : Math.round(value))) : list;
          const stored = await batchStateOf(connection, measure, type, typed);
          expect(measure.serialize(stored), `${type} trial ${trial}`).toBe(measure.serialize(stateOf(typed)));
        }
      }
    });
  });
});
