import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { Archiver, readBatchView, recomputeView } from '../../batch/index.ts';
import { parseViewQuery, queryLimits, ViewReader } from '../../serving/index.ts';
import { createRedisClient } from '../../shared/clients/index.ts';
import { BraidError } from '../../shared/errors/index.ts';
import { count, max, sum } from '../../shared/measures/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { defineSource, type FieldSpec, type Source } from '../../shared/sources/index.ts';
import { defineView, field, gt, tumbling, type View } from '../../shared/views/index.ts';
import { archiveUntil, createTopic, firstDifference, sendEvents, tempDir, testConfig, testKafka, testLogger, uniqueName } from '../harness/index.ts';

const T0 = Date.parse('2026-02-01T00:00:00Z');
const HOUR_MS = 3_600_000;

/**
 * A source whose fields take the names Braid's own columns and folders could have, and the commonest names of a
 * time field: `date` holds event time, `ts` is a plain number.
 */
const FIELDS = {
  date: { type: 'timestampMs' },
  id: { type: 'string' },
  hour: { type: 'int' },
  kafka_partition: { type: 'string' },
  kafka_offset: { type: 'int' },
  ts: { type: 'float', nullable: true },
  window_start: { type: 'int' },
} as const satisfies Record<string, FieldSpec>;

const sourceWith = (fields: Record<string, FieldSpec>): Source =>
  defineSource({ name: 'collide', fields, timeField: 'date', keyFields: ['id'] }) as unknown as Source;

function events(count: number, seed: number, extra: (index: number) => Record<string, unknown> = () => ({})): Array<Record<string, unknown>> {
  let state = seed;
  const next = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: count }, (_, index) => ({
    date: T0 + Math.floor(next() * 3 * 24 * HOUR_MS),
    id: `e${seed}-${index}`,
    hour: Math.floor(next() * 24),
    kafka_partition: ['p-a', 'p-b', 'p-c'][Math.floor(next() * 3)],
    kafka_offset: Math.floor(next() * 1_000),
    ts: next() < 0.1 ? null : Math.round(next() * 10_000) / 100,
    window_start: Math.floor(next() * 50),
    ...extra(index),
  }));
}

/** The rows DuckDB computes straight from the events for `sql` over a table `events`. */
async function duckDbRows(all: ReadonlyArray<Record<string, unknown>>, sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(
      `CREATE TABLE events AS SELECT * FROM (VALUES ${all
        .map((e) => `(${e.date}, ${e.hour}, '${e.kafka_partition}', ${e.kafka_offset}, ${e.ts ?? 'NULL'}::DOUBLE, ${e.window_start}, ${e.note === undefined || e.note === null ? 'NULL' : `'${e.note}'`})`)
        .join(', ')}) AS t(date, hour, kafka_partition, kafka_offset, ts, window_start, note)`,
    );
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(BraidError);
    return (error as BraidError).message;
  }
  throw new Error('expected a refusal');
}

describe('a source of the user\'s own', () => {
  it('with fields named date, hour, kafka_partition, kafka_offset, ts and window_start goes through archive → recompute → query, and evolves by nullable fields', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'collide', partitions: 2 });
    using dir = tempDir('braid-collide-');
    const config = testConfig({ dataDir: path.join(dir.path, 'data'), 'kafka.clientId': uniqueName('collide'), 'sources.collide.topic': topic.topic, 'archive.flushIntervalMs': 200 });
    const v1 = sourceWith(FIELDS);
    const byHour = defineView({
      name: 'by_hour',
      source: v1,
      groupBy: ['hour', 'kafka_partition'],
      window: tumbling('1h'),
      measures: { n: count(), offsets: sum('kafka_offset'), latest: max('window_start'), ts_total: sum('ts') },
    });
    const daily = defineView({ name: 'daily', source: v1, window: tumbling('1d'), filter: gt(field('window_start'), 10), measures: { n: count(), ts_total: sum('ts') } });
    const first = events(1_500, 1);
    await sendEvents(kafka, topic.topic, v1, first);
    await archiveUntil(config, kafka, topic.topic, first.length, v1);

    const range = { fromMs: T0 - 24 * HOUR_MS, toMs: T0 + 4 * 24 * HOUR_MS };
    const cutoffMs = T0 + 4 * 24 * HOUR_MS;
    await recomputeView({ config, view: byHour, cutoffMs });
    const hourly = (await readBatchView(config.dataDir, byHour, range)).rows.map((row) => ({ windowStart: row.windowStart, ...row.dimensions, ...row.measures }));
    const expectedHourly = (
      await duckDbRows(
        first,
        `SELECT date // ${HOUR_MS} * ${HOUR_MS} AS windowStart, hour, kafka_partition, count(*) AS n, sum(kafka_offset)::DOUBLE AS offsets,
                max(window_start)::DOUBLE AS latest, sum(ts) AS ts_total
         FROM events GROUP BY ALL ORDER BY windowStart, hour, kafka_partition`,
      )
    ).map((row) => ({ ...row, windowStart: Number(row.windowStart), n: Number(row.n) }));
    expect(hourly.length).toBeGreaterThan(500);
    expect(firstDifference('by_hour', hourly, expectedHourly)).toBe('');

    // The serving layer's read of the same view, as REST, GraphQL and `braid query` make it.
    const redis = createRedisClient(config.redis.url, { name: 'collide-test' });
    const reader = await ViewReader.open({ config, redis });
    try {
      const answer = await reader.query(parseViewQuery(byHour, { from: range.fromMs, to: range.toMs, layer: 'batch' }, queryLimits(config)));
      const served = answer.rows.map((row) => ({ windowStart: row.windowStart, ...row.dimensions, ...row.measures }));
      expect(firstDifference('by_hour served', served, expectedHourly)).toBe('');
    } finally {
      await reader.close();
      redis.disconnect();
    }

    await recomputeView({ config, view: daily, cutoffMs });
    const days = (await readBatchView(config.dataDir, daily, range)).rows.map((row) => ({ windowStart: row.windowStart, ...row.measures }));
    const expectedDays = (
      await duckDbRows(first, `SELECT date // 86400000 * 86400000 AS windowStart, count(*) AS n, sum(ts) AS ts_total FROM events WHERE window_start > 10 GROUP BY ALL ORDER BY 1`)
    ).map((row) => ({ ...row, windowStart: Number(row.windowStart), n: Number(row.n) }));
    expect(days).toHaveLength(3);
    expect(firstDifference('daily', days, expectedDays)).toBe('');

    // A nullable field added: the older files read it as null, and views on it recompute over everything.
    const v2 = sourceWith({ ...FIELDS, note: { type: 'string', nullable: true } });
    const byNote = defineView({ name: 'by_note', source: v2, groupBy: ['note'], window: tumbling('1d'), measures: { n: count() } });
    // Before any file holds it, every row reads it as null.
    await recomputeView({ config, view: byNote, cutoffMs });
    const unnoted = (await readBatchView(config.dataDir, byNote, range)).rows;
    expect(unnoted.map((row) => row.dimensions.note)).toEqual([null, null, null]);
    expect(unnoted.reduce((total, row) => total + (row.measures.n as number), 0)).toBe(1_500);
    const second = events(300, 2, (index) => ({ note: index % 2 === 0 ? 'even' : 'odd' }));
    await sendEvents(kafka, topic.topic, v2, second);
    await archiveUntil(config, kafka, topic.topic, first.length + second.length, v2);
    await recomputeView({ config, view: byNote, cutoffMs });
    const notes = new Map<string | null, number>();
    for (const row of (await readBatchView(config.dataDir, byNote, range)).rows) {
      const note = row.dimensions.note as string | null;
      notes.set(note, (notes.get(note) ?? 0) + (row.measures.n as number));
    }
    expect(Object.fromEntries(notes)).toEqual({ null: 1_500, even: 150, odd: 150 });
    // int → float widens.
    const widened = sourceWith({ ...FIELDS, kafka_offset: { type: 'float' }, note: { type: 'string', nullable: true } });
    const offsets = defineView({ name: 'offsets', source: widened, window: tumbling('1d'), measures: { total: sum('kafka_offset') } });
    await recomputeView({ config, view: offsets, cutoffMs });

    // Changes the files cannot be read back with are refused at start, naming the files and the views.
    const retyped = sourceWith({ ...FIELDS, hour: { type: 'string' }, note: { type: 'string', nullable: true } });
    const archiving = await refusal(() => Archiver.start({ config, source: retyped, logger: testLogger, registry: createMetricsRegistry('refused') }));
    expect(archiving).toMatch(/^source collide: its master dataset cannot be read with the source as defined now:\n {2}- field hour is int in \d+ files: 2026-02-0\d\/collide-.*-p\d-o\d+-\d+-t\d+-\d+-\d+of\d+\.parquet, .*; the source now says string$/m);
    const hourly3: View = defineView({ name: 'hourly_text', source: retyped, groupBy: ['hour'], window: tumbling('1h'), measures: { n: count() } });
    expect(await refusal(() => recomputeView({ config, view: hourly3, cutoffMs }))).toMatch(/field hour is int in \d+ files: .*; the source now says string; views using it: hourly_text/);

    const required = sourceWith({ ...FIELDS, note: { type: 'string' } });
    const requiredNote = defineView({ name: 'required_note', source: required, groupBy: ['note'], window: tumbling('1d'), measures: { n: count() } });
    const message = await refusal(() => recomputeView({ config, view: requiredNote, cutoffMs }));
    expect(message).toMatch(/field note is not in \d+ files: .*, and is not nullable: older rows have no value for it \(declare it nullable\); views using it: required_note/);
    expect(message).toMatch(/field note may be null in \d+ files: .*; the source now says it is not nullable; views using it: required_note/);
  });
});
