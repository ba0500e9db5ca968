import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC, type Table } from 'apache-arrow';
import { parse } from 'csv-parse/sync';
import { inject, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { recomputeView } from '../../batch/index.ts';
import { buildProgram } from '../../cli/main.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import {
  archiveUntil,
  createTopic,
  produceClickstream,
  tempDir,
  testConfig,
  testKafka,
  testLogger,
  testRedis,
  testServingApp,
  uniqueName,
  waitUntilSpeedCaughtUp,
} from '../harness/index.ts';
import { everyColumnType } from './fixtures/export-views/every-column-type.ts';

const VIEWS_DIR = fileURLToPath(new URL('./fixtures/export-views', import.meta.url));
const START_MS = Date.parse('2026-06-01T00:00:00Z');
const MINUTE = 60_000;
const CUTOFF_MS = START_MS + 60 * MINUTE;
const EVENTS = 800;
const iso = (ms: number) => new Date(ms).toISOString();

type Row = Record<string, unknown>;

/** The names of the columns whose cells are instants, and of those whose cells are Int64 (bigint in Arrow and DuckDB). */
const TIMES = ['windowStart', 'windowEnd', 'hour_start'];
const INTS = ['views', 'visitors'];

/** A JSON row with the timestamp dimension as ISO text, as the typed formats give it back once converted. */
function comparableJson(row: Row): Row {
  return { ...row, hour_start: row.hour_start === null ? null : iso(row.hour_start as number) };
}

const rowKey = (row: Row) => JSON.stringify([row.windowStart, row.device, row.hour, row.big_spender]);
const sorted = (rows: Row[]) => [...rows].sort((a, b) => (rowKey(a) < rowKey(b) ? -1 : rowKey(a) > rowKey(b) ? 1 : 0));

/** An Arrow table's rows as the JSON has them: times as ISO text, Int64 as numbers, top-k lists as arrays. */
function arrowRows(table: Table): Row[] {
  return table.toArray().map((record) => {
    const row = { ...(record.toJSON() as Row) };
    for (const name of TIMES) row[name] = row[name] === null ? null : iso(row[name] as number);
    for (const name of INTS) row[name] = Number(row[name] as bigint);
    row.top_urls = [...(row.top_urls as Iterable<{ toJSON(): { value: string; count: bigint } }>)].map((entry) => ({ value: entry.toJSON().value, count: Number(entry.toJSON().count) }));
    return row;
  });
}

const ARROW_TYPES = [
  'windowStart: Timestamp<MILLISECOND, UTC> not null',
  'windowEnd: Timestamp<MILLISECOND, UTC> not null',
  'device: Utf8',
  'hour: Float64',
  'big_spender: Bool',
  'hour_start: Timestamp<MILLISECOND, UTC>',
  'views: Int64 not null',
  'revenue: Float64',
  'smallest: Float64',
  'largest: Float64',
  'mean: Float64',
  'visitors: Int64 not null',
  'top_urls: List<Struct<{value:Utf8, count:Int64}>> not null',
];

describe('serving export: answers as Arrow, CSV and Parquet over REST and braid query', () => {
  it('a merged answer (batch version + speed) exports to the same rows and types in every format, with freshness headers', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'export', partitions: 2 });
    await using redis = testRedis();
    using dir = tempDir('braid-export-');
    const overrides = {
      'redis.keyPrefix': redis.prefix,
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('export'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 2,
      'archive.flushIntervalMs': 200,
      'speed.flushIntervalMs': 200,
      'serving.development': true,
      'serving.limits.requestsPerSecond': 0,
      'views.dir': VIEWS_DIR,
      'views.includeDemo': false,
    };
    const config = testConfig(overrides);
    await produceClickstream(kafka, topic.topic, { partitions: 2, generator: { seed: 11, disorderMs: 0, users: 60, urls: 12 }, count: EVENTS, startMs: START_MS, spanMs: 2 * 60 * MINUTE });

    // The speed layer and the archiver each join their consumer group: side by side, they wait out one rebalance, not two.
    const speed = async () => {
      const worker = await SpeedWorker.start({ config, views: [everyColumnType], logger: testLogger, registry: createMetricsRegistry('export-speed') });
      try {
        await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, [everyColumnType]);
      } finally {
        await worker.stop();
      }
    };
    await Promise.all([speed(), archiveUntil(config, kafka, topic.topic, EVENTS)]);
    await recomputeView({ config, view: everyColumnType, cutoffMs: CUTOFF_MS });

    await using serving = await testServingApp(config, [everyColumnType]);
    const range = `from=${iso(START_MS)}&to=${iso(START_MS + 3 * 60 * MINUTE)}&limit=5000`;
    const request = (accept?: string) => serving.app.request(`/v1/views/every_column_type?${range}`, { headers: accept === undefined ? {} : { accept } });

    // JSON: unchanged body; freshness also in the headers.
    const jsonResponse = await request();
    expect(jsonResponse.headers.get('content-type')).toBe('application/json');
    const json = (await jsonResponse.json()) as { rows: Row[]; meta: Record<string, unknown> };
    expect(json.meta).toMatchObject({ batchVersion: 1, batchCutoff: iso(CUTOFF_MS), layers: ['batch', 'speed'], partial: false });
    expect(json.rows.length).toBeGreaterThan(50);
    // Every kind of cell occurs: null dimensions and sums (no revenue), both booleans, top-k lists.
    expect(json.rows.some((row) => row.big_spender === null && row.revenue === null && row.mean === null)).toBe(true);
    expect(new Set(json.rows.map((row) => row.big_spender))).toEqual(new Set([null, true, false]));
    expect(json.rows.every((row) => Array.isArray(row.top_urls) && (row.top_urls as unknown[]).length > 0)).toBe(true);
    expect(jsonResponse.headers.get('braid-batch-version')).toBe(String(json.meta.batchVersion));
    expect(jsonResponse.headers.get('braid-batch-cutoff')).toBe(json.meta.batchCutoff);
    expect(jsonResponse.headers.get('braid-speed-watermark')).toBe(json.meta.speedWatermark);
    expect(jsonResponse.headers.get('braid-layers')).toBe('batch,speed');
    expect(jsonResponse.headers.get('braid-partial')).toBe('false');
    expect(jsonResponse.headers.get('braid-truncated')).toBe('false');
    expect(jsonResponse.headers.get('braid-granularity-ms')).toBe(String(10 * MINUTE));
    expect(jsonResponse.headers.get('vary')).toBe('Accept');
    const expected = sorted(json.rows.map(comparableJson));

    // Arrow over REST.
    const arrowResponse = await request('application/vnd.apache.arrow.stream');
    expect(arrowResponse.status).toBe(200);
    expect(arrowResponse.headers.get('content-type')).toBe('application/vnd.apache.arrow.stream');
    expect(arrowResponse.headers.get('braid-batch-version')).toBe('1');
    expect(arrowResponse.headers.get('braid-layers')).toBe('batch,speed');
    const arrow = tableFromIPC(new Uint8Array(await arrowResponse.arrayBuffer()));
    expect(arrow.schema.fields.map((f) => `${f.name}: ${String(f.type)}${f.nullable ? '' : ' not null'}`)).toEqual(ARROW_TYPES);
    expect(sorted(arrowRows(arrow))).toEqual(expected);

    // CSV over REST: header first, the same values.
    const csvResponse = await request('text/csv');
    expect(csvResponse.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csvResponse.headers.get('braid-batch-cutoff')).toBe(iso(CUTOFF_MS));
    const csv = await csvResponse.text();
    expect(csv.split('\n')[0]).toBe('windowStart,windowEnd,device,hour,big_spender,hour_start,views,revenue,smallest,largest,mean,visitors,top_urls');
    const csvRows = (parse(csv, { columns: true }) as Array<Record<string, string>>).map((record) => ({
      ...record,
      hour: Number(record.hour),
      big_spender: record.big_spender === '' ? null : record.big_spender === 'true',
      views: Number(record.views),
      visitors: Number(record.visitors),
      ...Object.fromEntries(['revenue', 'smallest', 'largest', 'mean'].map((name) => [name, record[name] === '' ? null : Number(record[name])])),
      top_urls: JSON.parse(record.top_urls!) as unknown,
    }));
    expect(sorted(csvRows)).toEqual(expected);

    // None of the three: 406 naming the acceptable types.
    const refused = await request('application/xml');
    expect(refused.status).toBe(406);
    expect(((await refused.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: 'NOT_ACCEPTABLE',
      acceptable: ['application/json', 'application/vnd.apache.arrow.stream', 'text/csv'],
    });

    // `braid query` (the command's own action, in-process): Parquet and Arrow files.
    const configFile = path.join(dir.path, 'braid.config.yaml');
    writeFileSync(
      configFile,
      stringify({
        redis: { url: inject('redisUrl'), keyPrefix: redis.prefix },
        kafka: { brokers: inject('kafkaBrokers') },
        dataDir: config.dataDir,
        views: { dir: VIEWS_DIR, includeDemo: false },
      }),
    );
    const query = (...args: string[]) =>
      buildProgram().parseAsync(['node', 'braid', '--config', configFile, 'query', 'every_column_type', '--from', iso(START_MS), '--to', iso(START_MS + 3 * 60 * MINUTE), '--limit', '5000', ...args]);
    const parquetFile = path.join(dir.path, 'answer.parquet');
    const arrowFile = path.join(dir.path, 'answer.arrows');
    await query('--format', 'parquet', '--output', parquetFile);
    await query('--format', 'arrow', '-o', arrowFile);

    const fromFile = tableFromIPC(readFileSync(arrowFile));
    expect(fromFile.schema.fields.map((f) => `${f.name}: ${String(f.type)}${f.nullable ? '' : ' not null'}`)).toEqual(ARROW_TYPES);
    expect(sorted(arrowRows(fromFile))).toEqual(expected);

    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const source = `read_parquet('${parquetFile}')`;
      const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
      expect(described.getRowObjectsJson().map((row) => `${row.column_name}: ${row.column_type}`)).toEqual([
        'windowStart: TIMESTAMP WITH TIME ZONE',
        'windowEnd: TIMESTAMP WITH TIME ZONE',
        'device: VARCHAR',
        'hour: DOUBLE',
        'big_spender: BOOLEAN',
        'hour_start: TIMESTAMP WITH TIME ZONE',
        'views: BIGINT',
        'revenue: DOUBLE',
        'smallest: DOUBLE',
        'largest: DOUBLE',
        'mean: DOUBLE',
        'visitors: BIGINT',
        'top_urls: STRUCT("value" VARCHAR, count BIGINT)[]',
      ]);
      const isoOf = (column: string) => `strftime(${column} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS ${column}`;
      const read = await connection.runAndReadAll(`SELECT * REPLACE (${TIMES.map(isoOf).join(', ')}) FROM ${source}`);
      const parquetRows = read.getRowObjectsJS().map((row) => ({
        ...row,
        views: Number(row.views as bigint),
        visitors: Number(row.visitors as bigint),
        top_urls: (row.top_urls as Array<{ value: string; count: bigint }>).map((entry) => ({ value: entry.value, count: Number(entry.count) })),
      }));
      expect(parquetRows).toHaveLength(expected.length);
      expect(sorted(parquetRows)).toEqual(expected);
      const metadata = await connection.runAndReadAll(`SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('${parquetFile}')`);
      expect(Object.fromEntries(metadata.getRowObjectsJson().map((row) => [row.key, row.value]))).toMatchObject({
        'Braid-Batch-Version': '1',
        'Braid-Batch-Cutoff': iso(CUTOFF_MS),
        'Braid-Layers': 'batch,speed',
      });
    } finally {
      connection.closeSync();
      instance.closeSync();
    }

    // A binary format without a file is a named bad argument, found before any query runs.
    const missing = await query('--format', 'parquet').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(missing).toBeInstanceOf(BraidError);
    expect(missing).toMatchObject({ code: ErrorCode.BAD_ARGUMENT, fields: { argument: 'output' } });
    expect((missing as BraidError).message).toMatch(/--format parquet writes a binary file: give it with --output <file>/);
  });
});
