import { describe, expect, it } from 'vitest';
import { answerCache, coalesceRanges, retentionGap, type ViewAnswer } from '../../serving/view-reader.ts';
import { count } from '../../shared/measures/index.ts';
import { defineView, pageViews, tumbling } from '../../shared/views/index.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const T0 = Date.parse('2026-01-10T00:00:00Z');

const range = (fromMs: number, toMs: number) => ({ fromMs, toMs });

describe('coalesceRanges', () => {
  it('returns nothing for no ranges', () => {
    expect(coalesceRanges([], 0, 100)).toEqual([]);
  });

  it('sorts ranges and merges those that overlap or touch', () => {
    expect(coalesceRanges([range(50, 60), range(10, 20), range(20, 30), range(25, 40)], 0, 100)).toEqual([range(10, 40), range(50, 60)]);
  });

  it('swallows a range inside another', () => {
    expect(coalesceRanges([range(10, 90), range(20, 30)], 0, 100)).toEqual([range(10, 90)]);
    expect(coalesceRanges([range(20, 30), range(10, 90)], 0, 100)).toEqual([range(10, 90)]);
  });

  it('keeps ranges with a gap between them apart, even a gap of 1 ms', () => {
    expect(coalesceRanges([range(10, 20), range(21, 30)], 0, 100)).toEqual([range(10, 20), range(21, 30)]);
  });

  it('clips to [from, to) and drops what falls outside', () => {
    expect(coalesceRanges([range(-50, 10), range(90, 150), range(200, 300), range(-20, -10)], 0, 100)).toEqual([range(0, 10), range(90, 100)]);
  });

  it('drops ranges that only touch the bounds or are empty', () => {
    expect(coalesceRanges([range(100, 120), range(-10, 0), range(40, 40), range(60, 50)], 0, 100)).toEqual([]);
  });

  it('leaves its input as it was', () => {
    const input = [range(30, 40), range(10, 35)];
    coalesceRanges(input, 0, 100);
    expect(input).toEqual([range(30, 40), range(10, 35)]);
  });
});

describe('retentionGap', () => {
  it('is nothing before the speed layer has a watermark', () => {
    expect(retentionGap(pageViews, null, T0 - 10 * DAY_MS, T0)).toEqual([]);
  });

  it('is nothing when the range starts within retention of the watermark', () => {
    expect(pageViews.retentionMs).toBe(DAY_MS);
    expect(retentionGap(pageViews, T0, T0 - DAY_MS, T0)).toEqual([]);
    expect(retentionGap(pageViews, T0, T0 - HOUR_MS, T0)).toEqual([]);
  });

  it('is the part of the range older than watermark minus retention', () => {
    expect(retentionGap(pageViews, T0, T0 - DAY_MS - 3 * HOUR_MS, T0)).toEqual([range(T0 - DAY_MS - 3 * HOUR_MS, T0 - DAY_MS)]);
  });

  it('ends at the range’s end when the whole range is past retention', () => {
    expect(retentionGap(pageViews, T0, T0 - 3 * DAY_MS, T0 - 2 * DAY_MS)).toEqual([range(T0 - 3 * DAY_MS, T0 - 2 * DAY_MS)]);
  });

  it('follows the view’s own retention', () => {
    const shortLived = defineView({ name: 'short_lived', source: 'clickstream', window: tumbling('1m'), measures: { views: count() }, retention: '2h' });
    expect(retentionGap(shortLived, T0, T0 - 3 * HOUR_MS, T0)).toEqual([range(T0 - 3 * HOUR_MS, T0 - 2 * HOUR_MS)]);
    expect(retentionGap(pageViews, T0, T0 - 3 * HOUR_MS, T0)).toEqual([]);
  });
});

describe('answerCache', () => {
  const answer = { rows: [], meta: {} } as unknown as ViewAnswer;

  it('holds thousands of answers to ordinary queries', () => {
    const cache = answerCache(5_000);
    for (let i = 0; i < 5_000; i++) cache.set(`["page_views",${i},{"url":["/"]}]`, answer);
    expect(cache.size).toBe(5_000);
  });

  it('counts a key’s length, so answers keyed by huge filters pin no more memory than rows would', () => {
    const cache = answerCache(5_000);
    const filter = 'x'.repeat(100_000);
    for (let i = 0; i < 1_500; i++) cache.set(`["page_views",${i},{"url":["${filter}"]}]`, answer);
    // Each key counts 1,001 rows' worth of the cache's 1,000,000.
    expect(cache.size).toBeLessThan(1_000);
    expect(cache.calculatedSize).toBeLessThanOrEqual(1_000_000);
  });
});
