import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { describe, expect, it } from 'vitest';
import { approxDistinct, avg, count, max, min, RedisHll, sum, topK, type AvgState, type Measure } from '../../shared/measures/index.ts';

/** Relative tolerance for float sums whose grouping differs (addition is not associative in floating point). */
const RELATIVE_TOLERANCE = 1e-9;
const TRIALS = 150;

type Value = unknown;

interface Case {
  readonly name: string;
  readonly measure: Measure;
  /** A random input value (nulls and undefineds included). */
  readonly value: (rng: RandomGenerator) => Value;
  /** Whether states may differ by float rounding when merged in another grouping. */
  readonly floaty: boolean;
}

function chance(rng: RandomGenerator, p: number): boolean {
  return uniformFloat64(rng) < p;
}

function maybeMissing(rng: RandomGenerator, present: () => Value): Value {
  const roll = uniformFloat64(rng);
  if (roll < 0.1) return null;
  if (roll < 0.15) return undefined;
  return present();
}

/** Positive amounts over seven orders of magnitude, so regrouping really changes the rounding (and never cancels). */
const amount = (rng: RandomGenerator): Value => maybeMissing(rng, () => uniformFloat64(rng) * 10 ** uniformInt(rng, -3, 3));
const signed = (rng: RandomGenerator): Value => maybeMissing(rng, () => (uniformFloat64(rng) - 0.5) * 2_000);
const userId = (rng: RandomGenerator): Value => maybeMissing(rng, () => `u${uniformInt(rng, 0, 300)}`);
/** Few distinct values so ties are common. */
const url = (rng: RandomGenerator): Value => maybeMissing(rng, () => ['/', '/a', '/b', '/c', '/d', '/e'][uniformInt(rng, 0, 5)]!);

const CASES: Case[] = [
  { name: 'count()', measure: count(), value: (rng) => (chance(rng, 0.2) ? null : 1), floaty: false },
  { name: 'sum(revenue)', measure: sum('revenue'), value: amount, floaty: true },
  { name: 'min(revenue)', measure: min('revenue'), value: signed, floaty: false },
  { name: 'max(revenue)', measure: max('revenue'), value: signed, floaty: false },
  { name: 'avg(revenue)', measure: avg('revenue'), value: amount, floaty: true },
  { name: 'approxDistinct(user_id)', measure: approxDistinct('user_id'), value: userId, floaty: false },
  { name: 'topK(url, 3)', measure: topK('url', 3), value: url, floaty: false },
];

function valuesOf(rng: RandomGenerator, testCase: Case, maxLength = 25): Value[] {
  return Array.from({ length: uniformInt(rng, 0, maxLength) }, () => testCase.value(rng));
}

function stateOf<State>(measure: Measure<State, unknown>, values: readonly Value[]): State {
  let state = measure.zero();
  for (const value of values) state = measure.add(state, value);
  return state;
}

/** Merges states in a random binary grouping (order kept). */
function mergeRandomly(rng: RandomGenerator, measure: Measure, states: readonly unknown[]): unknown {
  if (states.length === 0) return measure.zero();
  if (states.length === 1) return states[0];
  const split = uniformInt(rng, 1, states.length - 1);
  return measure.merge(mergeRandomly(rng, measure, states.slice(0, split)), mergeRandomly(rng, measure, states.slice(split)));
}

function shuffled<T>(rng: RandomGenerator, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

function closeTo(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= RELATIVE_TOLERANCE * Math.max(Math.abs(actual), Math.abs(expected));
}

/**
 * Asserts two states are the same: exactly (by their stable serialized form)
 * unless `tolerant`, when float sums may differ in the last bits.
 */
function expectSameState(testCase: Case, actual: unknown, expected: unknown, tolerant: boolean): void {
  const { measure } = testCase;
  if (!tolerant || !testCase.floaty) {
    expect(measure.serialize(actual)).toBe(measure.serialize(expected));
    return;
  }
  if (measure.kind === 'sum') {
    const [a, b] = [actual as number | null, expected as number | null];
    if (a === null || b === null) {
      expect(a).toBe(b);
      return;
    }
    expect(closeTo(a, b), `${a} ≈ ${b}`).toBe(true);
    return;
  }
  const [a, b] = [actual as AvgState, expected as AvgState];
  expect(a.count).toBe(b.count);
  expect(closeTo(a.sum, b.sum), `${a.sum} ≈ ${b.sum}`).toBe(true);
}

describe.each(CASES)('$name monoid laws', (testCase) => {
  const { measure } = testCase;

  it('merge is associative', () => {
    const rng = xoroshiro128plus(1);
    for (let trial = 0; trial < TRIALS; trial++) {
      const [a, b, c] = [0, 1, 2].map(() => stateOf(measure, valuesOf(rng, testCase)));
      const left = measure.merge(measure.merge(a, b), c);
      const right = measure.merge(a, measure.merge(b, c));
      expectSameState(testCase, left, right, true);
    }
  });

  it('merge is commutative', () => {
    const rng = xoroshiro128plus(2);
    for (let trial = 0; trial < TRIALS; trial++) {
      const a = stateOf(measure, valuesOf(rng, testCase));
      const b = stateOf(measure, valuesOf(rng, testCase));
      expectSameState(testCase, measure.merge(a, b), measure.merge(b, a), false);
    }
  });

  it('zero is neutral on both sides', () => {
    const rng = xoroshiro128plus(3);
    for (let trial = 0; trial < TRIALS; trial++) {
      const a = stateOf(measure, valuesOf(rng, testCase));
      expectSameState(testCase, measure.merge(measure.zero(), a), a, false);
      expectSameState(testCase, measure.merge(a, measure.zero()), a, false);
    }
    expectSameState(testCase, measure.merge(measure.zero(), measure.zero()), measure.zero(), false);
  });

  it('adding values one by one equals merging their singletons, in any grouping and order', () => {
    const rng = xoroshiro128plus(4);
    for (let trial = 0; trial < TRIALS; trial++) {
      const values = valuesOf(rng, testCase, 40);
      const folded = stateOf(measure, values);
      const singletons = values.map((value) => measure.add(measure.zero(), value));
      // Left to right, the same additions in the same order: exact even for floats.
      expectSameState(testCase, singletons.reduce((acc, s) => measure.merge(acc, s), measure.zero()), folded, false);
      expectSameState(testCase, mergeRandomly(rng, measure, singletons), folded, true);
      expectSameState(testCase, mergeRandomly(rng, measure, shuffled(rng, singletons)), folded, true);
    }
  });

  it('merge leaves its inputs as they were, and its result shares nothing with them', () => {
    const rng = xoroshiro128plus(5);
    for (let trial = 0; trial < TRIALS; trial++) {
      const a = stateOf(measure, valuesOf(rng, testCase));
      const b = stateOf(measure, valuesOf(rng, testCase));
      const [beforeA, beforeB] = [measure.serialize(a), measure.serialize(b)];
      let merged = measure.merge(a, b);
      expect(measure.serialize(a)).toBe(beforeA);
      expect(measure.serialize(b)).toBe(beforeB);
      // add may mutate the state it is given: that must not reach the inputs.
      for (const value of valuesOf(rng, testCase, 10)) merged = measure.add(merged, value);
      measure.add(merged, testCase.value(rng));
      expect(measure.serialize(a)).toBe(beforeA);
      expect(measure.serialize(b)).toBe(beforeB);
      // Nor may merging with zero hand back a state shared with an input.
      const fromZero = measure.merge(measure.zero(), a);
      for (const value of valuesOf(rng, testCase, 10)) measure.add(fromZero, value);
      const toZero = measure.merge(b, measure.zero());
      for (const value of valuesOf(rng, testCase, 10)) measure.add(toZero, value);
      expect(measure.serialize(a)).toBe(beforeA);
      expect(measure.serialize(b)).toBe(beforeB);
    }
  });

  it('mergeInto, where a measure has it, gives merge\'s state and leaves its second input as it was', () => {
    const rng = xoroshiro128plus(6);
    const mergeInto = measure.mergeInto?.bind(measure) ?? ((into: unknown, from: unknown) => measure.merge(into, from));
    for (let trial = 0; trial < TRIALS; trial++) {
      const states = [0, 1, 2, 3].map(() => stateOf(measure, valuesOf(rng, testCase)));
      const before = states.map((state) => measure.serialize(state));
      const merged = states.slice(1).reduce((acc, state) => measure.merge(acc, state), states[0]);
      const into = states.slice(1).reduce((acc, state) => mergeInto(acc, state), measure.merge(measure.zero(), states[0]));
      expectSameState(testCase, into, merged, false);
      expect(states.map((state) => measure.serialize(state))).toEqual(before);
    }
  });

  it('serialize/deserialize round-trips', () => {
    const rng = xoroshiro128plus(6);
    for (let trial = 0; trial < TRIALS; trial++) {
      const state = stateOf(measure, valuesOf(rng, testCase));
      const text = measure.serialize(state);
      const restored = measure.deserialize(text);
      expect(measure.finish(restored)).toEqual(measure.finish(state));
      expect(measure.serialize(restored)).toBe(text);
      // A restored state keeps working as a state.
      expectSameState(testCase, measure.merge(restored, state), measure.merge(state, state), false);
    }
    expect(measure.finish(measure.deserialize(measure.serialize(measure.zero())))).toEqual(measure.finish(measure.zero()));
  });

  it('skips null and undefined values', () => {
    const rng = xoroshiro128plus(7);
    for (let trial = 0; trial < TRIALS; trial++) {
      const values = valuesOf(rng, testCase);
      const present = values.filter((value) => value !== null && value !== undefined);
      if (measure.kind === 'count') {
        // count() counts rows, whatever their value.
        expect(measure.finish(stateOf(measure, values))).toBe(values.length);
      } else {
        expectSameState(testCase, stateOf(measure, values), stateOf(measure, present), false);
      }
    }
  });
});

describe('finished values', () => {
  it('count() counts rows, nulls included', () => {
    const measure = count();
    expect(measure.finish(measure.zero())).toBe(0);
    expect(measure.finish(stateOf(measure, [null, undefined, 3, 'x']))).toBe(4);
  });

  it('sum of nothing, or of nulls only, is null (as SQL SUM)', () => {
    const measure = sum('revenue');
    expect(measure.finish(measure.zero())).toBeNull();
    expect(measure.finish(stateOf(measure, [null, undefined, null]))).toBeNull();
    expect(measure.finish(stateOf(measure, [1.5, null, 2.25]))).toBe(3.75);
    expect(measure.finish(stateOf(measure, [0]))).toBe(0);
  });

  it('min and max of nothing are null', () => {
    expect(min('revenue').finish(min('revenue').zero())).toBeNull();
    expect(max('revenue').finish(max('revenue').zero())).toBeNull();
    expect(min('revenue').finish(stateOf(min('revenue'), [3, null, -2, 7]))).toBe(-2);
    expect(max('revenue').finish(stateOf(max('revenue'), [3, null, -2, 7]))).toBe(7);
  });

  it('avg of nothing is null; otherwise the mean of the non-null values', () => {
    const measure = avg('revenue');
    expect(measure.finish(measure.zero())).toBeNull();
    expect(measure.finish(stateOf(measure, [null, undefined]))).toBeNull();
    expect(measure.finish(stateOf(measure, [1, null, 2, 6]))).toBe(3);
    expect(measure.finish(measure.merge(stateOf(measure, [1, 2]), stateOf(measure, [6])))).toBe(3);
  });

  it('topK orders by count, breaking ties by value ascending', () => {
    const measure = topK('url', 3);
    const state = stateOf(measure, ['/d', '/b', '/c', '/b', '/a', '/c', '/a', '/e', '/e', '/e', null]);
    expect(measure.finish(state)).toEqual([
      { value: '/e', count: 3 },
      { value: '/a', count: 2 },
      { value: '/b', count: 2 },
    ]);
    expect(measure.finish(measure.zero())).toEqual([]);
    expect(topK('url', 10).finish(state)).toHaveLength(5);
  });

  it('topK rejects a k that is not a whole number ≥ 1', () => {
    expect(() => topK('url', 0)).toThrow(/k must be a whole number/);
    expect(() => topK('url', 1.5)).toThrow(/k must be a whole number/);
  });

  it('approxDistinct is within 2% of the true count for 10k distinct values', () => {
    const measure = approxDistinct('user_id');
    const rng = xoroshiro128plus(8);
    const distinct = Array.from({ length: 10_000 }, (_, i) => `user-${i}-${uniformInt(rng, 0, 1e9)}`);
    // Each value several times, spread over two partial states that overlap.
    const halfA = stateOf(measure, [...distinct.slice(0, 6_000), ...distinct.slice(0, 6_000)]);
    const halfB = stateOf(measure, [...distinct.slice(4_000), null]);
    const estimate = measure.finish(measure.merge(halfA, halfB));
    expect(Math.abs(estimate - 10_000) / 10_000).toBeLessThan(0.02);
    expect(measure.finish(stateOf(measure, distinct))).toBe(estimate);
    expect(measure.finish(measure.zero())).toBe(0);
  });

  it('approxDistinct counts values by their string form, with the same sketch as RedisHll', () => {
    const measure = approxDistinct('user_id');
    const state = stateOf(measure, [1, '1', 2, '2', null]);
    expect(measure.finish(state)).toBe(2);
    const direct = RedisHll.empty();
    direct.add('1');
    direct.add('2');
    expect(measure.serialize(state)).toBe(direct.serialize());
  });

  it('describes itself', () => {
    expect(count().describe()).toBe('count()');
    expect(sum('revenue').describe()).toBe('sum(revenue)');
    expect(topK('url', 3).describe()).toBe('topK(url, 3)');
    expect(approxDistinct('user_id').describe()).toBe('approxDistinct(user_id)');
  });
});
