import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { alignDown, sliding, tumbling, windowStartsFor, type WindowSpec } from '../../shared/views/index.ts';
import { MINUTE_MS, T0 } from './helpers/windows.ts';

describe('alignDown', () => {
  it.each([
    [0, 0],
    [1, 0],
    [59_999, 0],
    [60_000, 60_000],
    [-1, -60_000],
    [-59_999, -60_000],
    [-60_000, -60_000],
    [-60_001, -120_000],
  ])('floors %d to %d on a 1-minute grid, also below the epoch', (timeMs, expected) => {
    expect(alignDown(timeMs, MINUTE_MS)).toBe(expected);
  });
});

describe('tumbling window assignment', () => {
  const minute = tumbling('1m');

  it('puts an event exactly at a window start in that window, and one at its end in the next', () => {
    expect(windowStartsFor(minute, T0)).toEqual([T0]);
    expect(windowStartsFor(minute, T0 + MINUTE_MS - 1)).toEqual([T0]);
    expect(windowStartsFor(minute, T0 + MINUTE_MS)).toEqual([T0 + MINUTE_MS]);
    expect(windowStartsFor(minute, T0 - 1)).toEqual([T0 - MINUTE_MS]);
  });

  it('handles the epoch and times before it', () => {
    expect(windowStartsFor(minute, 0)).toEqual([0]);
    expect(windowStartsFor(minute, -1)).toEqual([-MINUTE_MS]);
    expect(windowStartsFor(minute, -MINUTE_MS)).toEqual([-MINUTE_MS]);
    expect(windowStartsFor(minute, -MINUTE_MS - 1)).toEqual([-2 * MINUTE_MS]);
  });

  it('aligns windows to the epoch, not to the first event', () => {
    const rng = xoroshiro128plus(7);
    const hour = tumbling('1h');
    for (let trial = 0; trial < 1_000; trial++) {
      const timeMs = uniformInt(rng, -1e13, 1e13);
      const [start] = windowStartsFor(hour, timeMs);
      expect(start! % 3_600_000 === 0).toBe(true);
      expect(start! <= timeMs && timeMs < start! + 3_600_000).toBe(true);
    }
  });
});

describe('sliding window assignment', () => {
  it('gives size/slide windows, each [start, start + size) containing the event, earliest first', () => {
    const spec = sliding('5m', '1m');
    expect(windowStartsFor(spec, T0 + 4 * MINUTE_MS + 30_000)).toEqual([0, 1, 2, 3, 4].map((m) => T0 + m * MINUTE_MS));
  });

  it('puts an event exactly at a slide boundary into the window starting there, not the one ending there', () => {
    const spec = sliding('5m', '1m');
    const starts = windowStartsFor(spec, T0);
    expect(starts).toEqual([-4, -3, -2, -1, 0].map((m) => T0 + m * MINUTE_MS));
    expect(starts).not.toContain(T0 - 5 * MINUTE_MS); // [T0-5m, T0) ends at the event
  });

  it('handles the epoch and times before it', () => {
    const spec = sliding('3m', '1m');
    expect(windowStartsFor(spec, 0)).toEqual([-2 * MINUTE_MS, -MINUTE_MS, 0]);
    expect(windowStartsFor(spec, -1)).toEqual([-3 * MINUTE_MS, -2 * MINUTE_MS, -MINUTE_MS]);
  });

  it.each([
    ['5m', '1m'],
    ['10s', '2s'],
    ['1h', '15m'],
    ['2m', '2m'],
    ['1d', '1h'],
  ])('sliding(%s, %s): exactly the aligned windows containing t, for random t', (size, slide) => {
    const spec = sliding(size, slide) as Extract<WindowSpec, { type: 'sliding' }>;
    const { sizeMs, slideMs } = spec;
    const rng = xoroshiro128plus(42);
    for (let trial = 0; trial < 500; trial++) {
      // Mostly arbitrary times; some exactly on a boundary.
      const raw = uniformInt(rng, -1e12, 1e12);
      const timeMs = trial % 5 === 0 ? alignDown(raw, slideMs) : raw;
      const starts = windowStartsFor(spec, timeMs);
      expect(starts).toHaveLength(sizeMs / slideMs);
      // Every aligned window containing t, by brute force.
      const expected: number[] = [];
      for (let start = alignDown(timeMs - sizeMs, slideMs); start <= timeMs; start += slideMs) {
        if (start <= timeMs && timeMs < start + sizeMs) expected.push(start);
      }
      expect(starts).toEqual(expected);
    }
  });
});
