import { describe, expect, it } from 'vitest';
import { orderAndLimit, rollUp, rollUpOrderAndLimit, type ResultRow, type StateRow } from '../../serving/roll-up.ts';
import type { OrderBy } from '../../serving/view-query.ts';
import { avg, count, RedisHll, topK } from '../../shared/measures/index.ts';
import { Pacer } from '../../shared/pacing/index.ts';
import { defineView, pageViews, sliding, tumbling, userSessions } from '../../shared/views/index.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** A whole day, so minute and hour buckets start on it. */
const T0 = Date.parse('2026-01-01T00:00:00Z');

function sketchOf(values: Iterable<string>): RedisHll {
  const sketch = RedisHll.empty();
  for (const value of values) sketch.add(value);
  return sketch;
}

function users(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `user-${from + i}`);
}

/** A page_views state row for the minute starting `minute` minutes after T0. */
function pageRow(minute: number, url: string | null, views: number, visitors: Iterable<string>, revenue: number | null): StateRow {
  const windowStart = T0 + minute * MINUTE_MS;
  return { windowStart, windowEnd: windowStart + MINUTE_MS, dimensions: { url }, state: { views, visitors: sketchOf(visitors), revenue } };
}

function resultRow(windowStart: number, dimensions: Record<string, string | number | boolean | null>, measures: Record<string, unknown>): ResultRow {
  return { windowStart, windowEnd: windowStart + MINUTE_MS, dimensions, measures };
}

describe('rollUp', () => {
  it('merges the windows of a bucket by monoid: counts add, sums skip nulls, sketches union', () => {
    const rows = [
      pageRow(0, '/a', 3, users(0, 100), 10.5),
      pageRow(1, '/a', 4, users(50, 150), null),
      pageRow(59, '/a', 5, users(140, 160), 2),
    ];
    const [row, ...rest] = rollUp(pageViews, rows, HOUR_MS);
    expect(rest).toEqual([]);
    expect(row).toMatchObject({ windowStart: T0, windowEnd: T0 + HOUR_MS, dimensions: { url: '/a' } });
    expect(row!.measures.views).toBe(12);
    expect(row!.measures.revenue).toBe(12.5);
    // A union of registers, never a sum of estimates: 160 distinct users, not 100 + 100 + 20.
    expect(row!.measures.visitors).toBe(sketchOf(users(0, 160)).count());
    expect(row!.measures.visitors).toBeGreaterThan(150);
    expect(row!.measures.visitors).toBeLessThan(170);
  });

  it('keeps a sum null when no window of the bucket had a value', () => {
    const [row] = rollUp(pageViews, [pageRow(0, '/a', 1, [], null), pageRow(1, '/a', 1, [], null)], HOUR_MS);
    expect(row!.measures.revenue).toBeNull();
    expect(row!.measures.visitors).toBe(0);
  });

  it('keeps buckets and dimension values apart, a null dimension included', () => {
    const rows = [
      pageRow(0, '/a', 1, ['u1'], 1),
      pageRow(5, '/b', 2, ['u2'], 2),
      pageRow(10, '/a', 3, ['u3'], 3),
      pageRow(20, null, 4, ['u4'], 4),
      pageRow(61, '/a', 5, ['u5'], 5),
    ];
    const result = rollUp(pageViews, rows, HOUR_MS);
    const byKey = new Map(result.map((row) => [`${row.windowStart}|${String(row.dimensions.url)}`, row]));
    expect(byKey.size).toBe(4);
    expect(byKey.get(`${T0}|/a`)!.measures).toMatchObject({ views: 4, revenue: 4 });
    expect(byKey.get(`${T0}|/a`)!.measures.visitors).toBe(sketchOf(['u1', 'u3']).count());
    expect(byKey.get(`${T0}|/b`)!.measures).toMatchObject({ views: 2, revenue: 2 });
    expect(byKey.get(`${T0}|null`)!.measures).toMatchObject({ views: 4, revenue: 4 });
    expect(byKey.get(`${T0 + HOUR_MS}|/a`)).toMatchObject({ windowStart: T0 + HOUR_MS, windowEnd: T0 + 2 * HOUR_MS });
    expect(byKey.get(`${T0 + HOUR_MS}|/a`)!.measures).toMatchObject({ views: 5, revenue: 5 });
  });

  it('does not confuse the text "1" with the number 1 in a dimension', () => {
    const rows: StateRow[] = [
      { windowStart: T0, windowEnd: T0 + MINUTE_MS, dimensions: { url: '1' }, state: { views: 1, visitors: RedisHll.empty(), revenue: null } },
      { windowStart: T0, windowEnd: T0 + MINUTE_MS, dimensions: { url: 1 }, state: { views: 2, visitors: RedisHll.empty(), revenue: null } },
    ];
    expect(rollUp(pageViews, rows, HOUR_MS)).toHaveLength(2);
  });

  it('leaves its inputs as they were', () => {
    const rows = [pageRow(0, '/a', 3, users(0, 100), 1.5), pageRow(1, '/a', 4, users(100, 200), 2.5), pageRow(2, '/a', 5, users(200, 300), null)];
    const before = rows.map((row) => ({ ...row, state: { ...row.state, visitors: (row.state.visitors as RedisHll).serialize() } }));
    const counts = rows.map((row) => (row.state.visitors as RedisHll).count());
    const sketches = rows.map((row) => row.state.visitors);
    const rolled = rollUp(pageViews, rows, HOUR_MS);
    expect(rolled[0]!.measures.views).toBe(12);
    const after = rows.map((row) => ({ ...row, state: { ...row.state, visitors: (row.state.visitors as RedisHll).serialize() } }));
    expect(after).toEqual(before);
    expect(rows.map((row) => (row.state.visitors as RedisHll).count())).toEqual(counts);
    rows.forEach((row, i) => expect(row.state.visitors).toBe(sketches[i]));
  });

  it('keeps windows apart when granularity is null, merging only the same window and group', () => {
    const rows = [pageRow(0, '/a', 1, ['u1'], 1), pageRow(1, '/a', 2, ['u2'], null), pageRow(0, '/a', 10, ['u1', 'u9'], 5)];
    const result = rollUp(pageViews, rows, null);
    expect(result).toHaveLength(2);
    const first = result.find((row) => row.windowStart === T0)!;
    expect(first).toMatchObject({ windowEnd: T0 + MINUTE_MS, measures: { views: 11, revenue: 6 } });
    expect(first.measures.visitors).toBe(sketchOf(['u1', 'u9']).count());
    expect(result.find((row) => row.windowStart === T0 + MINUTE_MS)!.measures).toMatchObject({ views: 2, revenue: null });
  });

  it('keeps overlapping sliding windows and sessions by their own bounds when granularity is null', () => {
    const countryMinutes = defineView({ name: 'country_five', source: 'clickstream', groupBy: ['country'], window: sliding('5m', '1m'), measures: { views: count() } });
    const slidingRows: StateRow[] = [0, 1, 2].map((minute) => ({
      windowStart: T0 + minute * MINUTE_MS,
      windowEnd: T0 + (minute + 5) * MINUTE_MS,
      dimensions: { country: 'US' },
      state: { views: minute + 1 },
    }));
    expect(rollUp(countryMinutes, slidingRows, null).map((row) => [row.windowStart, row.windowEnd, row.measures.views])).toEqual(
      slidingRows.map((row) => [row.windowStart, row.windowEnd, row.state.views]),
    );
    // Two sessions of one user that start together but end apart are two rows.
    const sessions: StateRow[] = [
      { windowStart: T0, windowEnd: T0 + 31 * MINUTE_MS, dimensions: { user_id: 'u1' }, state: { events: 2, revenue: null } },
      { windowStart: T0, windowEnd: T0 + 45 * MINUTE_MS, dimensions: { user_id: 'u1' }, state: { events: 3, revenue: 7 } },
    ];
    expect(rollUp(userSessions, sessions, null).map((row) => row.measures)).toEqual([
      { events: 2, revenue: null },
      { events: 3, revenue: 7 },
    ]);
  });

  it('finishes avg and topK states after merging them', () => {
    const view = defineView({
      name: 'revenue_mix',
      source: 'clickstream',
      groupBy: ['country'],
      window: tumbling('1m'),
      measures: { mean_revenue: avg('revenue'), top_urls: topK('url', 2) },
    });
    const row = (minute: number, meanState: { sum: number; count: number }, urls: Array<[string, number]>): StateRow => ({
      windowStart: T0 + minute * MINUTE_MS,
      windowEnd: T0 + (minute + 1) * MINUTE_MS,
      dimensions: { country: 'DE' },
      state: { mean_revenue: meanState, top_urls: new Map(urls) },
    });
    const inputs = [row(0, { sum: 10, count: 1 }, [['/a', 3], ['/b', 1]]), row(1, { sum: 20, count: 3 }, [['/b', 4], ['/c', 2]])];
    const [merged] = rollUp(view, inputs, 10 * MINUTE_MS);
    expect(merged!.measures.mean_revenue).toBe(7.5);
    expect(merged!.measures.top_urls).toEqual([
      { value: '/b', count: 5 },
      { value: '/a', count: 3 },
    ]);
    expect([...(inputs[0]!.state.top_urls as Map<string, number>)]).toEqual([['/a', 3], ['/b', 1]]);
  });

  it('returns nothing for no rows', () => {
    expect(rollUp(pageViews, [], HOUR_MS)).toEqual([]);
  });
});

describe('orderAndLimit', () => {
  it('sorts by a measure descending, ties by window start then by dimension', () => {
    const rows = [
      resultRow(T0 + MINUTE_MS, { url: '/b' }, { views: 5 }),
      resultRow(T0, { url: '/b' }, { views: 5 }),
      resultRow(T0, { url: '/a' }, { views: 5 }),
      resultRow(T0, { url: '/c' }, { views: 9 }),
      resultRow(T0, { url: '/d' }, { views: 1 }),
    ];
    const { rows: sorted, truncated } = orderAndLimit(pageViews, rows, { field: 'views', direction: 'desc' }, 10);
    expect(truncated).toBe(false);
    expect(sorted.map((row) => [row.measures.views, row.windowStart - T0, row.dimensions.url])).toEqual([
      [9, 0, '/c'],
      [5, 0, '/a'],
      [5, 0, '/b'],
      [5, MINUTE_MS, '/b'],
      [1, 0, '/d'],
    ]);
  });

  it('keeps ties in ascending window order even when the measure sorts descending', () => {
    const rows = [resultRow(T0 + 2 * MINUTE_MS, { url: '/a' }, { views: 1 }), resultRow(T0, { url: '/a' }, { views: 1 }), resultRow(T0 + MINUTE_MS, { url: '/a' }, { views: 1 })];
    const { rows: sorted } = orderAndLimit(pageViews, rows, { field: 'views', direction: 'desc' }, 10);
    expect(sorted.map((row) => row.windowStart - T0)).toEqual([0, MINUTE_MS, 2 * MINUTE_MS]);
  });

  it('puts nulls first ascending and last descending', () => {
    const make = () => [
      resultRow(T0, { url: '/a' }, { revenue: 3 }),
      resultRow(T0, { url: '/b' }, { revenue: null }),
      resultRow(T0, { url: '/c' }, { revenue: -1 }),
      resultRow(T0, { url: '/d' }, { revenue: 20 }),
    ];
    const ascending = orderAndLimit(pageViews, make(), { field: 'revenue', direction: 'asc' }, 10).rows;
    expect(ascending.map((row) => row.measures.revenue)).toEqual([null, -1, 3, 20]);
    const descending = orderAndLimit(pageViews, make(), { field: 'revenue', direction: 'desc' }, 10).rows;
    expect(descending.map((row) => row.measures.revenue)).toEqual([20, 3, -1, null]);
  });

  it('compares numbers as numbers, not as text', () => {
    const rows = [resultRow(T0, { url: '/a' }, { views: 10 }), resultRow(T0, { url: '/b' }, { views: 9 }), resultRow(T0, { url: '/c' }, { views: 100 })];
    expect(orderAndLimit(pageViews, rows, { field: 'views', direction: 'asc' }, 10).rows.map((row) => row.measures.views)).toEqual([9, 10, 100]);
  });

  it('orders by windowStart in either direction', () => {
    const rows = [resultRow(T0 + MINUTE_MS, { url: '/a' }, {}), resultRow(T0 + 2 * MINUTE_MS, { url: '/a' }, {}), resultRow(T0, { url: '/a' }, {})];
    expect(orderAndLimit(pageViews, [...rows], { field: 'windowStart', direction: 'asc' }, 10).rows.map((row) => row.windowStart - T0)).toEqual([0, MINUTE_MS, 2 * MINUTE_MS]);
    expect(orderAndLimit(pageViews, [...rows], { field: 'windowStart', direction: 'desc' }, 10).rows.map((row) => row.windowStart - T0)).toEqual([2 * MINUTE_MS, MINUTE_MS, 0]);
  });

  it('puts a null dimension before the others among ties', () => {
    const rows = [resultRow(T0, { url: '/a' }, { views: 1 }), resultRow(T0, { url: null }, { views: 1 })];
    expect(orderAndLimit(pageViews, rows, { field: 'views', direction: 'asc' }, 10).rows.map((row) => row.dimensions.url)).toEqual([null, '/a']);
  });

  it('keeps the first limit rows and says it truncated', () => {
    const rows = [1, 2, 3, 4, 5].map((views) => resultRow(T0, { url: `/${views}` }, { views }));
    const limited = orderAndLimit(pageViews, rows, { field: 'views', direction: 'desc' }, 2);
    expect(limited.truncated).toBe(true);
    expect(limited.rows.map((row) => row.measures.views)).toEqual([5, 4]);
  });

  it('does not flag truncation when exactly limit rows match', () => {
    const rows = [1, 2].map((views) => resultRow(T0, { url: `/${views}` }, { views }));
    const limited = orderAndLimit(pageViews, rows, { field: 'views', direction: 'asc' }, 2);
    expect(limited).toMatchObject({ truncated: false });
    expect(limited.rows).toHaveLength(2);
  });
});

describe('rollUpOrderAndLimit', () => {
  const rows = Array.from({ length: 300 }, (_, i) => pageRow(i % 120, `/u${i % 17}`, 1 + ((i * 7) % 13), users(i, i + (i % 5)), i % 3 ? i : null));

  it('answers as rollUp then orderAndLimit do, for any granularity, order and limit', async () => {
    const cases: Array<[number | null, OrderBy, number]> = [
      [null, { field: 'views', direction: 'desc' }, 20],
      [HOUR_MS, { field: 'revenue', direction: 'asc' }, 5],
      [null, { field: 'windowStart', direction: 'asc' }, 1_000],
      [10 * MINUTE_MS, { field: 'visitors', direction: 'desc' }, 3],
    ];
    for (const [granularity, orderBy, limit] of cases) {
      expect(await rollUpOrderAndLimit(pageViews, rows, granularity, orderBy, limit, new Pacer({ sliceMs: 0 }))).toEqual(orderAndLimit(pageViews, rollUp(pageViews, rows, granularity), orderBy, limit));
    }
  });

  it('finishes a measure the order does not need only for the rows it returns', async () => {
    let finished = 0;
    const counted = {
      ...pageViews,
      measures: pageViews.measures.map(({ name, measure }) =>
        name === 'visitors' ? { name, measure: { ...measure, finish: (state: unknown) => (finished++, measure.finish(state)) } } : { name, measure },
      ),
    };
    const { rows: top, truncated } = await rollUpOrderAndLimit(counted, rows, null, { field: 'views', direction: 'desc' }, 20);
    expect(top).toHaveLength(20);
    expect(truncated).toBe(true);
    expect(finished).toBe(20);
  });
});
