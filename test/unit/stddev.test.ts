import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stddev, type StddevState } from '../../shared/measures/index.ts';
import { batchStateOf } from './helpers/measure-faces.ts';

const measure = stddev('latency');
const TRIALS = 150;

/** Values around a large offset with a small spread, where a sum-of-squares formula loses every digit; nulls included. */
function values(rng: RandomGenerator, maxLength = 30): Array<number | null> {
  const offset = uniformInt(rng, 0, 1) === 0 ? 0 : 1e9;
  return Array.from({ length: uniformInt(rng, 0, maxLength) }, () => (uniformFloat64(rng) < 0.1 ? null : offset + (uniformFloat64(rng) - 0.5) * 100));
}

const stateOf = (list: ReadonlyArray<number | null>): StddevState => list.reduce<StddevState>((state, value) => measure.add(state, value), measure.zero());

/** Two-pass sample standard deviation: the reference. */
function exactStddev(list: ReadonlyArray<number | null>): number | null {
  const present = list.filter((value): value is number => value !== null);
  if (present.length < 2) return null;
  const mean = present.reduce((total, value) => total + value, 0) / present.length;
  return Math.sqrt(present.reduce((total, value) => total + (value - mean) ** 2, 0) / (present.length - 1));
}

function expectClose(actual: number | null, expected: number | null, relative = 1e-6): void {
  if (expected === null) return expect(actual).toBeNull();
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected), `${actual} ≈ ${expected}`).toBeLessThanOrEqual(relative * Math.max(1, Math.abs(expected)));
}

describe('stddev', () => {
  it('is the sample standard deviation of the non-null values, null below two of them', () => {
    expect(measure.finish(measure.zero())).toBeNull();
    expect(measure.finish(stateOf([5, null]))).toBeNull();
    expect(measure.finish(stateOf([2, 4, 4, 4, 5, 5, 7, 9]))).toBeCloseTo(2.138089935299395, 12);
    const rng = xoroshiro128plus(21);
    for (let trial = 0; trial < TRIALS; trial++) {
      const list = values(rng);
      expectClose(measure.finish(stateOf(list)), exactStddev(list));
    }
  });

  it('merges in any split and grouping to the stddev of all the values (partitions, panes, the batch cutoff)', () => {
    const rng = xoroshiro128plus(22);
    for (let trial = 0; trial < TRIALS; trial++) {
      const list = values(rng, 60);
      const cuts = [uniformInt(rng, 0, list.length), uniformInt(rng, 0, list.length)].sort((a, b) => a - b);
      const [a, b, c] = [list.slice(0, cuts[0]), list.slice(cuts[0], cuts[1]), list.slice(cuts[1])].map(stateOf);
      const left = measure.merge(measure.merge(a!, b!), c!);
      const right = measure.merge(c!, measure.merge(b!, a!));
      expect(left.count).toBe(list.filter((value) => value !== null).length);
      expectClose(measure.finish(left), exactStddev(list));
      expectClose(measure.finish(right), exactStddev(list));
      expect(measure.merge(measure.zero(), a!)).toEqual(a);
      expect(measure.merge(a!, measure.zero())).toEqual(a);
    }
  });

  it('round-trips its stored text exactly', () => {
    const rng = xoroshiro128plus(23);
    for (let trial = 0; trial < TRIALS; trial++) {
      const state = stateOf(values(rng));
      expect(measure.deserialize(measure.serialize(state))).toEqual(state);
    }
  });

  it('its speed face keeps a partition state that is the same monoid, stored as bytes', () => {
    const storage = measure.speed.storage;
    if (storage.type !== 'partitions') throw new Error('stddev is stored by partition');
    const a = stateOf([1, 2, 3]);
    const b = stateOf([10, 20]);
    const bytes = (state: StddevState) => new TextEncoder().encode(measure.serialize(state));
    expect(storage.fromPartitions([bytes(a), bytes(b)])).toEqual(measure.merge(a, b));
    expect(storage.fromPartitions([])).toEqual(measure.zero());
    expect(new TextDecoder().decode(storage.restore(bytes(a)).toBytes())).toBe(measure.serialize(a));
  });

  describe('its batch face', () => {
    let connection: DuckDBConnection;
    beforeAll(async () => {
      connection = await (await DuckDBInstance.create(':memory:')).connect();
    });
    afterAll(() => connection?.closeSync());

    it('builds in DuckDB the state JavaScript builds, read back through fromStored', async () => {
      const rng = xoroshiro128plus(24);
      for (let trial = 0; trial < 20; trial++) {
        const list = values(rng, 200);
        const stored = await batchStateOf(connection, measure, 'DOUBLE', list);
        const expected = stateOf(list);
        expect(stored.count).toBe(expected.count);
        expectClose(stored.mean, expected.mean, 1e-9);
        expectClose(measure.finish(stored), measure.finish(expected));
        // A batch state merges with a speed state as two speed states do.
        expectClose(measure.finish(measure.merge(stored, stateOf([1, 2]))), exactStddev([...list, 1, 2]));
      }
    });
  });
});
