import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tumblingKeySql, tumblingWindowsSql } from '../../batch/window-sql.ts';
import { tumbling, windowEndFor, windowStartsFor, type WindowSpec } from '../../shared/views/index.ts';

const HOUR_MS = 3_600_000;

/** Times near the DST changes of 2026 in the zones below (on and around the half hours), and some anywhere in 2000–2040. */
function sampleTimes(): number[] {
  const random = xoroshiro128plus(8);
  const changes = ['2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z', '2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z', '2026-04-04T15:00:00Z', '2026-09-06T04:00:00Z', '2026-03-08T05:00:00Z', '2026-11-01T05:00:00Z'].map(Date.parse);
  const times: number[] = [];
  for (const change of changes) {
    // Every half hour for a day either side, and a millisecond before each.
    for (let step = -48; step <= 48; step++) times.push(change + step * 30 * 60_000, change + step * 30 * 60_000 - 1);
    for (let index = 0; index < 60; index++) {
      const near = change + uniformInt(random, -3 * 24 * HOUR_MS, 3 * 24 * HOUR_MS);
      times.push(index % 4 === 0 ? Math.floor(near / HOUR_MS) * HOUR_MS : near);
    }
  }
  for (let index = 0; index < 200; index++) times.push(uniformInt(random, Date.parse('2000-01-01T00:00:00Z'), Date.parse('2040-01-01T00:00:00Z')));
  return times;
}

describe('tumbling windows in batch SQL', () => {
  let connection: DuckDBConnection;
  const times = sampleTimes();

  beforeAll(async () => {
    connection = await (await DuckDBInstance.create(':memory:')).connect();
    await connection.run('CREATE TABLE events (ts BIGINT)');
    const appender = await connection.createAppender('events');
    for (const timeMs of times) {
      appender.appendBigInt(BigInt(timeMs));
      appender.endRow();
    }
    appender.closeSync();
  });

  afterAll(() => connection?.closeSync());

  it.each([
    ['1d', 'America/New_York'],
    ['1w', 'America/New_York'],
    ['1mo', 'America/New_York'],
    ['1d', 'Europe/Berlin'],
    ['1q', 'Europe/Berlin'],
    ['1y', 'Asia/Kolkata'],
    // Half-hour DST; clocks that skip midnight (the day then starts at 01:00); clocks that go back over
    // midnight (the day starts at the first of its two midnights).
    ['1d', 'Australia/Lord_Howe'],
    ['1d', 'America/Santiago'],
    ['1d', 'America/Havana'],
    ['1w', 'America/Havana'],
    ['1d', 'Atlantic/Azores'],
    ['1w', 'UTC'],
    ['1h', undefined],
  ] as const)('%s in %s: DuckDB gives the speed layer’s windows for every event', async (size, timeZone) => {
    const window = tumbling(size, timeZone ? { timeZone } : {}) as Extract<WindowSpec, { type: 'tumbling' }>;
    // Each event its own group: every window start and end is worked out from one event.
    const windows = tumblingWindowsSql(window, `SELECT ts, ${tumblingKeySql(window, 'ts')} AS __window_start FROM events`);
    const result = await connection.runAndReadAll(`SELECT ts, __window_start AS s, ${windows.end} AS e FROM (${windows.sql})`);
    const mismatches = result
      .getRowObjectsJS()
      .map((row) => ({ ts: Number(row.ts), sql: [Number(row.s), Number(row.e)] }))
      .filter(({ ts, sql }) => {
        const [start] = windowStartsFor(window, ts) as [number];
        return sql[0] !== start || sql[1] !== windowEndFor(window, start);
      })
      .map(({ ts, sql }) => `${new Date(ts).toISOString()}: SQL [${sql.map((ms) => new Date(ms).toISOString()).join(', ')})`);
    expect(mismatches).toEqual([]);
  });
});
