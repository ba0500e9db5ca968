import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollUp, type StateRow } from '../../serving/roll-up.ts';
import { count, max, sum } from '../../shared/measures/index.ts';
import { calendarGranularity, type CalendarUnit } from '../../shared/time/index.ts';
import { defineView, tumbling, windowStartsFor } from '../../shared/views/index.ts';

const HOUR_MS = 3_600_000;

/** An hourly view: its rows are what rolling up to days, weeks and months starts from. */
const hourly = defineView({
  name: 'hourly_pages',
  source: 'clickstream',
  groupBy: ['url'],
  window: tumbling('1h'),
  measures: { views: count(), revenue: sum('revenue'), top: max('revenue') },
});

interface Event {
  ts: number;
  url: string;
  revenue: number | null;
}

/** Events over both of New York's 2026 DST changes and the months and weeks around them. */
function generatedEvents(): Event[] {
  const random = xoroshiro128plus(2026);
  const spans = [
    [Date.parse('2026-02-20T00:00:00Z'), Date.parse('2026-04-10T00:00:00Z')],
    [Date.parse('2026-10-15T00:00:00Z'), Date.parse('2026-11-20T00:00:00Z')],
  ] as const;
  const events: Event[] = [];
  for (let index = 0; index < 30_000; index++) {
    const [from, to] = spans[index % 2]!;
    // Whole revenues, so sums are exact whatever order they are added in.
    const revenue = uniformInt(random, 0, 3) === 0 ? null : uniformInt(random, 1, 900);
    events.push({ ts: uniformInt(random, from, to - 1), url: ['/a', '/b', '/c'][uniformInt(random, 0, 2)]!, revenue });
  }
  // A few exactly on the hours and midnights that matter.
  for (const iso of ['2026-03-08T05:00:00Z', '2026-03-09T03:59:59.999Z', '2026-03-09T04:00:00Z', '2026-11-01T04:00:00Z', '2026-11-02T04:59:59.999Z', '2026-11-02T05:00:00Z', '2026-03-01T05:00:00Z']) {
    events.push({ ts: Date.parse(iso), url: '/a', revenue: 1 });
  }
  return events;
}

/** The rows the hourly view holds for `events`: one per hour and url, with each measure's state. */
function hourlyRows(events: readonly Event[]): StateRow[] {
  const cells = new Map<string, { windowStart: number; url: string; state: Record<string, unknown> }>();
  for (const event of events) {
    const [windowStart] = windowStartsFor(hourly.window, event.ts) as [number];
    const key = `${windowStart}|${event.url}`;
    let cell = cells.get(key);
    if (!cell) cells.set(key, (cell = { windowStart, url: event.url, state: Object.fromEntries(hourly.measures.map(({ name, measure }) => [name, measure.zero()])) }));
    for (const { name, measure } of hourly.measures) cell.state[name] = measure.add(cell.state[name], measure.field === undefined ? undefined : event[measure.field as 'revenue']);
  }
  return [...cells.values()].map(({ windowStart, url, state }) => ({ windowStart, windowEnd: windowStart + HOUR_MS, dimensions: { url }, state }));
}

describe('calendar roll-ups equal DuckDB’s date_trunc in the zone', () => {
  const events = generatedEvents();
  const rows = hourlyRows(events);
  let connection: DuckDBConnection;

  beforeAll(async () => {
    connection = await (await DuckDBInstance.create(':memory:')).connect();
    await connection.run('CREATE TABLE events (ts BIGINT, url VARCHAR, revenue DOUBLE)');
    const appender = await connection.createAppender('events');
    for (const event of events) {
      appender.appendBigInt(BigInt(event.ts));
      appender.appendVarchar(event.url);
      if (event.revenue === null) appender.appendNull();
      else appender.appendDouble(event.revenue);
      appender.endRow();
    }
    appender.closeSync();
  });

  afterAll(() => connection?.closeSync());

  /** DuckDB's buckets over the raw events: ICU's date_trunc in the session's time zone. */
  async function duckdbBuckets(unit: CalendarUnit, timeZone: string): Promise<string[]> {
    const interval = { day: 'INTERVAL 1 DAY', week: 'INTERVAL 7 DAY', month: 'INTERVAL 1 MONTH', quarter: 'INTERVAL 3 MONTH', year: 'INTERVAL 1 YEAR' }[unit];
    await connection.run(`SET TimeZone = '${timeZone}'`);
    const result = await connection.runAndReadAll(`
      SELECT epoch_ms(date_trunc('${unit}', to_timestamp(ts / 1000))) AS start,
             epoch_ms(date_trunc('${unit}', to_timestamp(ts / 1000)) + ${interval}) AS "end",
             url, count(*) AS views, sum(revenue) AS revenue, max(revenue) AS top
      FROM events GROUP BY ALL`);
    return result.getRowObjectsJS().map((row) => JSON.stringify([Number(row.start), Number(row.end), row.url, Number(row.views), row.revenue, row.top])).sort();
  }

  function rolledUp(unit: CalendarUnit, timeZone: string): string[] {
    return rollUp(hourly, rows, calendarGranularity(unit, timeZone))
      .map((row) => JSON.stringify([row.windowStart, row.windowEnd, row.dimensions.url, row.measures.views, row.measures.revenue, row.measures.top]))
      .sort();
  }

  it.each([
    ['week', 'America/New_York'],
    ['month', 'America/New_York'],
    ['day', 'America/New_York'],
    ['week', 'Europe/Berlin'],
    ['quarter', 'America/New_York'],
  ] as const)('%s in %s: the same buckets and the same count, sum and max', async (unit, timeZone) => {
    const expected = await duckdbBuckets(unit, timeZone);
    expect(expected.length).toBeGreaterThan(5);
    expect(rolledUp(unit, timeZone)).toEqual(expected);
  });

  it('includes the weeks of the DST changes, 167 and 169 hours long', () => {
    const lengths = new Set(rollUp(hourly, rows, calendarGranularity('week', 'America/New_York')).map((row) => (row.windowEnd - row.windowStart) / HOUR_MS));
    expect([...lengths].sort((a, b) => a - b)).toEqual([167, 168, 169]);
  });
});
