import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchViewReader, readBatchView, recomputeView } from '../../batch/index.ts';
import { dayFolder, masterFileName } from '../../batch/master-dataset.ts';
import { createDuckDbParquetWriter, type ArchiveRow } from '../../batch/parquet-writer.ts';
import { approxDistinct, avg, count, max, min, RedisHll, sum, topK } from '../../shared/measures/index.ts';
import { getSource } from '../../shared/sources/index.ts';
import { calendarGranularity, fixedGranularity, timeGrid, type Granularity } from '../../shared/time/index.ts';
import { defineView, field, ne, session, sliding, tumbling, windowEndFor, windowStartsFor, type View } from '../../shared/views/index.ts';
import { tempDir, testConfig } from '../harness/index.ts';

const START_MS = Date.parse('2026-03-01T00:00:00Z');
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const CUTOFF_MS = START_MS + 3 * HOUR_MS;

type Event = { ts: number; user_id: string; session_id: string; url: string; country: string; device: string; revenue: number | null };

/**
 * Ordinary traffic over two hours, plus cells that take the compiler's edge
 * paths: one with 1,500 distinct users (a sketch kept as one position per
 * register), one whose revenue sum overflows to Infinity, one with no revenue
 * at all (empty sum, avg 0/0), and tablets, which the filter drops.
 */
function events(): Event[] {
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const out: Event[] = [];
  for (let i = 0; i < 3_000; i++) {
    out.push({
      ts: START_MS + Math.floor(random() * 2 * HOUR_MS),
      user_id: `u${Math.floor(random() * 200)}`,
      session_id: 's',
      url: pick(['/a', '/b', '/c', '/d', '/e', '/f', "/quote'd", '/ünï"code']),
      country: pick(['US', 'DE', 'FR']),
      device: pick(['mobile', 'desktop', 'tablet']),
      revenue: random() < 0.6 ? null : Math.round(random() * 10_000) / 100,
    });
  }
  for (let i = 0; i < 1_500; i++) {
    out.push({ ts: START_MS + 10 * MINUTE_MS + i, user_id: `big-${i}`, session_id: 's', url: `/p/${i % 300}`, country: 'BIG', device: 'mobile', revenue: i % 3 === 0 ? i : null });
  }
  for (const revenue of [1e308, 1e308, -5]) {
    out.push({ ts: START_MS + 20 * MINUTE_MS + 5, user_id: 'rich', session_id: 's', url: '/x', country: 'INF', device: 'desktop', revenue });
  }
  for (let i = 0; i < 4; i++) out.push({ ts: START_MS + 30 * MINUTE_MS + i, user_id: `n${i}`, session_id: 's', url: '/n', country: 'NONE', device: 'desktop', revenue: null });
  return out;
}

const everyMeasure = defineView({
  name: 'every_measure',
  source: 'clickstream',
  groupBy: ['country'],
  window: tumbling('1m'),
  filter: ne(field('device'), 'tablet'),
  measures: {
    events: count(),
    revenue: sum('revenue'),
    smallest: min('revenue'),
    largest: max('revenue'),
    mean: avg('revenue'),
    visitors: approxDistinct('user_id'),
    pages: approxDistinct('url'),
    top_pages: topK('url', 3),
  },
});
/** The measures whose states DuckDB merges in a roll-up (topK, stddev and quantiles roll up in JavaScript). */
const rolledUpInSql = defineView({
  name: 'rolled_up_in_sql',
  source: 'clickstream',
  groupBy: ['country', 'device'],
  window: tumbling('1m'),
  measures: {
    events: count(),
    revenue: sum('revenue'),
    smallest: min('revenue'),
    largest: max('revenue'),
    mean: avg('revenue'),
    visitors: approxDistinct('user_id'),
    pages: approxDistinct('url'),
  },
});
const slidingSketches = defineView({
  name: 'sliding_sketches',
  source: 'clickstream',
  groupBy: ['device'],
  window: sliding('3m', '1m'),
  measures: { visitors: approxDistinct('user_id'), top_countries: topK('country', 2), mean: avg('revenue') },
});
const sessionSketches = defineView({
  name: 'session_sketches',
  source: 'clickstream',
  groupBy: ['user_id'],
  window: session('5m'),
  measures: { events: count(), pages: approxDistinct('url'), largest: max('revenue') },
});

/** The views' states computed in JavaScript with the measures' own monoids (the speed layer's arithmetic), keyed by window and dimensions. */
function expectedStates(view: View, all: readonly Event[]): Map<string, Record<string, unknown>> {
  const kept = view.name === 'every_measure' ? all.filter((event) => event.device !== 'tablet') : all;
  const cells = new Map<string, Record<string, unknown>>();
  const add = (start: number, end: number, event: Event) => {
    const key = `${start}|${end}|${view.dimensions.map((dimension) => String(event[dimension.name as keyof Event])).join('|')}`;
    let states = cells.get(key);
    if (!states) {
      states = Object.fromEntries(view.measures.map(({ name, measure }) => [name, measure.zero()]));
      cells.set(key, states);
    }
    for (const { name, measure } of view.measures) {
      states[name] = measure.add(states[name] as never, (measure.field === undefined ? undefined : event[measure.field as keyof Event]) as never);
    }
  };
  if (view.window.type !== 'session') {
    for (const event of kept) for (const start of windowStartsFor(view.window, event.ts)) add(start, windowEndFor(view.window, start), event);
    return cells;
  }
  const gap = view.window.gapMs;
  const byUser = new Map<string, Event[]>();
  for (const event of kept) byUser.set(event.user_id, [...(byUser.get(event.user_id) ?? []), event]);
  for (const userEvents of byUser.values()) {
    const sorted = [...userEvents].sort((a, b) => a.ts - b.ts);
    let group: Event[] = [];
    const close = () => {
      for (const event of group) add(group[0]!.ts, group.at(-1)!.ts + gap, event);
      group = [];
    };
    for (const event of sorted) {
      if (group.length > 0 && event.ts - group.at(-1)!.ts >= gap) close();
      group.push(event);
    }
    close();
  }
  return cells;
}

/** A state as comparable data: numbers to 1e-9 relative, sketches by their registers, top-k by its counts. */
function comparable(state: unknown): unknown {
  if (state instanceof RedisHll) return Buffer.from(state.registers()).toString('base64');
  if (state instanceof Map) return [...state].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  if (typeof state === 'number' && Number.isFinite(state) && !Number.isInteger(state)) return Number(state.toPrecision(10));
  if (typeof state === 'object' && state !== null) return Object.fromEntries(Object.entries(state).map(([key, value]) => [key, comparable(value)]));
  return state;
}

/** The events as the archiver would write them were its flushes split by event hour: two files of one flush, in their day's folder. */
async function writeMasterDataset(dataDir: string, all: readonly Event[]): Promise<void> {
  const writer = await createDuckDbParquetWriter(getSource('clickstream'));
  try {
    for (const hour of [0, 1]) {
      const rows: ArchiveRow[] = all
        .map((event, offset) => ({ ...event, _kafka_partition: 0, _kafka_offset: offset }))
        .filter((row) => Math.floor((row.ts - START_MS) / HOUR_MS) === hour);
      const folder = dayFolder(dataDir, 'clickstream', START_MS);
      mkdirSync(folder, { recursive: true });
      const times = rows.map((row) => row.ts as number);
      const name = masterFileName({ topic: 'clicks', partition: 0, firstOffset: 0, lastOffset: all.length - 1, minTimeMs: Math.min(...times), maxTimeMs: Math.max(...times), index: hour + 1, count: 2 });
      await writer.write(path.join(folder, name), rows);
    }
  } finally {
    writer.close();
  }
}

describe('batch views compiled to SQL', () => {
  it('store every measure kind as the state the measures build in JavaScript', async () => {
    using dir = tempDir('braid-batch-measures-');
    const config = testConfig({ dataDir: path.join(dir.path, 'data') });
    const all = events();
    await writeMasterDataset(config.dataDir, all);

    for (const view of [everyMeasure, slidingSketches, sessionSketches]) {
      const manifest = await recomputeView({ config, view, cutoffMs: CUTOFF_MS });
      const { rows } = await readBatchView(config.dataDir, view, { fromMs: START_MS - HOUR_MS, toMs: CUTOFF_MS, includeState: true });
      const expected = expectedStates(view, all);
      expect(manifest.rowCount, view.name).toBe(expected.size);
      const actual = new Map(
        rows.map((row) => [`${row.windowStart}|${row.windowEnd}|${view.dimensions.map((dimension) => String(row.dimensions[dimension.name])).join('|')}`, row.state!]),
      );
      expect([...actual.keys()].sort(), view.name).toEqual([...expected.keys()].sort());
      for (const [key, states] of expected) expect(comparable(actual.get(key)), `${view.name} ${key}`).toEqual(comparable(states));
    }

    // The edge cells really took their edge paths.
    const { rows } = await readBatchView(config.dataDir, everyMeasure, { fromMs: START_MS, toMs: CUTOFF_MS });
    const cell = (country: string) => rows.find((row) => row.dimensions.country === country)!.measures;
    expect(Math.abs(Number(cell('BIG').visitors) - 1_500)).toBeLessThan(1_500 * 0.03);
    expect(cell('INF')).toMatchObject({ revenue: Infinity, smallest: -5, largest: 1e308, mean: Infinity });
    expect(cell('NONE')).toMatchObject({ events: 4, revenue: null, smallest: null, largest: null, mean: null, visitors: 4 });
  });

  it('roll up into buckets in DuckDB to the states the measures\' monoids merge in JavaScript', async () => {
    using dir = tempDir('braid-batch-roll-up-');
    const config = testConfig({ dataDir: path.join(dir.path, 'data') });
    await writeMasterDataset(config.dataDir, events());
    const manifest = await recomputeView({ config, view: rolledUpInSql, cutoffMs: CUTOFF_MS });
    await recomputeView({ config, view: everyMeasure, cutoffMs: CUTOFF_MS });
    const reader = await BatchViewReader.open(config.dataDir);
    try {
      const { rows } = await reader.read(rolledUpInSql, { fromMs: START_MS - HOUR_MS, toMs: CUTOFF_MS, includeState: true, finish: false });
      const cases: Array<{ granularity: Granularity; endsByMs: number; where?: Record<string, Array<string | null>> }> = [
        { granularity: fixedGranularity(HOUR_MS), endsByMs: CUTOFF_MS },
        { granularity: fixedGranularity(MINUTE_MS), endsByMs: START_MS + 90 * MINUTE_MS },
        { granularity: fixedGranularity(7 * MINUTE_MS), endsByMs: CUTOFF_MS, where: { country: ['US', 'BIG', null], device: ['mobile'] } },
        { granularity: calendarGranularity('day', 'America/New_York'), endsByMs: START_MS + 61 * MINUTE_MS },
        { granularity: calendarGranularity('month', 'Asia/Kolkata'), endsByMs: CUTOFF_MS, where: { country: ['NONE'] } },
      ];
      for (const { granularity, endsByMs, where } of cases) {
        const label = `${JSON.stringify(granularity)} ${JSON.stringify(where ?? {})}`;
        const grid = timeGrid(granularity);
        const expected = new Map<string, Record<string, unknown>>();
        let windows = 0;
        for (const row of rows) {
          if (row.windowEnd > endsByMs || !Object.entries(where ?? {}).every(([name, accepted]) => accepted.includes(row.dimensions[name] as string))) continue;
          windows++;
          const key = `${grid.startOf(row.windowStart)}|${grid.endOf(row.windowStart)}|${row.dimensions.country}|${row.dimensions.device}`;
          const merged = expected.get(key);
          expected.set(key, merged ? Object.fromEntries(rolledUpInSql.measures.map(({ name, measure }) => [name, measure.merge(merged[name], row.state![name])])) : row.state!);
        }
        const rolled = await reader.readRollUp(rolledUpInSql, { fromMs: START_MS - HOUR_MS, toMs: CUTOFF_MS, endsByMs, granularity, version: manifest.version, ...(where ? { where } : {}) });
        expect(rolled, label).toBeDefined();
        expect(rolled!.scanned, label).toBe(windows);
        const actual = new Map(rolled!.rows.map((row) => [`${row.windowStart}|${row.windowEnd}|${row.dimensions.country}|${row.dimensions.device}`, row.state]));
        expect([...actual.keys()].sort(), label).toEqual([...expected.keys()].sort());
        expect(expected.size, label).toBeGreaterThan(0);
        for (const [key, states] of expected) expect(comparable(actual.get(key)), `${label} ${key}`).toEqual(comparable(states));
      }
      // A view with a measure DuckDB does not merge (topK) is left to the caller.
      expect(await reader.readRollUp(everyMeasure, { fromMs: START_MS, toMs: CUTOFF_MS, endsByMs: CUTOFF_MS, granularity: fixedGranularity(HOUR_MS), version: manifest.version })).toBeUndefined();
    } finally {
      reader.close();
    }
  });

  it('leaves no half-written version behind when a recompute fails', async () => {
    using dir = tempDir('braid-batch-failed-');
    const config = testConfig({ dataDir: path.join(dir.path, 'data') });
    await writeMasterDataset(config.dataDir, events());
    const first = await recomputeView({ config, view: everyMeasure, cutoffMs: CUTOFF_MS });
    // A master file that is not Parquet (damaged on disk) makes the query fail after the staging folder exists.
    const folder = dayFolder(config.dataDir, 'clickstream', START_MS);
    writeFileSync(path.join(folder, readdirSync(folder).find((name) => name.endsWith('.parquet'))!), 'not parquet');
    await expect(recomputeView({ config, view: everyMeasure, cutoffMs: CUTOFF_MS })).rejects.toThrow();
    const root = path.join(config.dataDir, 'views', everyMeasure.name);
    expect(readdirSync(root).sort()).toEqual(['CURRENT', `v${first.version}`]);
  });
});
