import { calendarGranularity, fixedGranularity } from '../../shared/time/index.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import {
  answerColumns,
  answerFormatFor,
  answerJson,
  answerToArrow,
  answerToCsv,
  freshnessHeaders,
  writeAnswerParquet,
  type ViewAnswer,
} from '../../serving/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { approxDistinct, avg, count, max, min, sum, topK } from '../../shared/measures/index.ts';
import { defineSource, type Source } from '../../shared/sources/index.ts';
import { defineView, field, tumbling, truncTime } from '../../shared/views/index.ts';

const T0 = Date.parse('2026-04-02T10:00:00Z');
const MINUTE = 60_000;

const orders = defineSource({
  name: 'export_test_orders',
  fields: {
    ts: { type: 'timestampMs' },
    customer: { type: 'string' },
    shop: { type: 'string', nullable: true },
    items: { type: 'int', nullable: true },
    express: { type: 'bool', nullable: true },
    amount: { type: 'float', nullable: true },
  },
  timeField: 'ts',
  keyFields: ['customer'],
}) as unknown as Source;

/** One dimension of each type and one measure of each kind. */
const view = defineView({
  name: 'export_test_orders',
  source: orders,
  groupBy: ['shop', 'items', 'express', { name: 'hour', expr: truncTime(field('ts'), 'hour') }],
  window: tumbling('1m'),
  measures: {
    orders: count(),
    revenue: sum('amount'),
    smallest: min('amount'),
    largest: max('amount'),
    mean: avg('amount'),
    customers: approxDistinct('customer'),
    top_customers: topK('customer', 2),
  },
});

const answer: ViewAnswer = {
  rows: [
    {
      windowStart: T0,
      windowEnd: T0 + MINUTE,
      dimensions: { shop: 'north, "old" branch', items: 3, express: true, hour: T0 },
      measures: { orders: 5, revenue: 12.5, smallest: 0.5, largest: 9.25, mean: 2.5, customers: 4, top_customers: [{ value: 'ann', count: 2 }, { value: 'bo\nb', count: 1 }] },
    },
    {
      windowStart: T0 + MINUTE,
      windowEnd: T0 + 2 * MINUTE,
      dimensions: { shop: null, items: null, express: null, hour: null },
      measures: { orders: 2, revenue: null, smallest: null, largest: null, mean: null, customers: 2, top_customers: [] },
    },
    {
      windowStart: T0 + 2 * MINUTE,
      windowEnd: T0 + 3 * MINUTE,
      dimensions: { shop: 'south', items: 0.5, express: false, hour: T0 + 3_600_000 },
      measures: { orders: 9_007_199_254_740_991, revenue: Infinity, smallest: -3, largest: -3, mean: -3, customers: 0, top_customers: [{ value: 'é', count: 7 }] },
    },
  ],
  meta: {
    batchVersion: 4,
    batchCutoffMs: T0 + MINUTE,
    speedWatermarkMs: T0 + 150_000,
    layers: ['batch', 'speed'],
    partial: true,
    missing: [{ fromMs: T0 + 2 * MINUTE, toMs: T0 + 3 * MINUTE }],
    fromMs: T0,
    toMs: T0 + 3 * MINUTE,
    granularity: fixedGranularity(MINUTE),
    timeZone: 'UTC',
    truncated: false,
    cached: false,
  },
};

/** The JSON rows with timestamp dimensions as ISO text (JSON has them as epoch ms). */
const jsonRows = (answerJson(answer).rows as Array<Record<string, unknown>>).map((row) => ({
  ...row,
  hour: row.hour === null ? null : new Date(row.hour as number).toISOString(),
}));

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('serving export: an answer as Arrow, CSV and Parquet', () => {
  it('names and types the columns as the JSON rows have them', () => {
    expect(answerColumns(view).map((column) => [column.name, column.type, column.nullable])).toEqual([
      ['windowStart', 'timestamp', false],
      ['windowEnd', 'timestamp', false],
      ['shop', 'string', true],
      ['items', 'float', true],
      ['express', 'bool', true],
      ['hour', 'timestamp', true],
      ['orders', 'int', false],
      ['revenue', 'float', true],
      ['smallest', 'float', true],
      ['largest', 'float', true],
      ['mean', 'float', true],
      ['customers', 'int', false],
      ['top_customers', 'entries', false],
    ]);
    expect(answerColumns(view).map((column) => column.name)).toEqual(Object.keys(jsonRows[0]!));
  });

  it('an Arrow IPC stream decodes to the JSON rows, typed, nulls kept, top-k as lists of structs, freshness in the metadata', () => {
    const table = tableFromIPC(answerToArrow(view, answer));
    expect(table.schema.fields.map((f) => `${f.name}: ${String(f.type)}${f.nullable ? '' : ' not null'}`)).toEqual([
      'windowStart: Timestamp<MILLISECOND, UTC> not null',
      'windowEnd: Timestamp<MILLISECOND, UTC> not null',
      'shop: Utf8',
      'items: Float64',
      'express: Bool',
      'hour: Timestamp<MILLISECOND, UTC>',
      'orders: Int64 not null',
      'revenue: Float64',
      'smallest: Float64',
      'largest: Float64',
      'mean: Float64',
      'customers: Int64 not null',
      'top_customers: List<Struct<{value:Utf8, count:Int64}>> not null',
    ]);
    expect(table.numRows).toBe(3);
    const rows = table.toArray().map((row) => {
      const plain = row.toJSON() as Record<string, unknown>;
      const iso = (ms: unknown) => (ms === null ? null : new Date(ms as number).toISOString());
      return {
        ...plain,
        windowStart: iso(plain.windowStart),
        windowEnd: iso(plain.windowEnd),
        hour: iso(plain.hour),
        orders: Number(plain.orders as bigint),
        customers: Number(plain.customers as bigint),
        top_customers: [...(plain.top_customers as Iterable<{ toJSON(): { value: string; count: bigint } }>)].map((entry) => {
          const { value, count } = entry.toJSON();
          return { value, count: Number(count) };
        }),
      };
    });
    expect(rows).toEqual(jsonRows);
    expect(typeof table.getChild('orders')!.get(2)).toBe('bigint');
    expect(table.getChild('orders')!.get(2)).toBe(9_007_199_254_740_991n);
    expect(table.schema.metadata.get('Braid-Batch-Version')).toBe('4');
    expect(table.schema.metadata.get('Braid-Missing')).toBe('2026-04-02T10:02:00.000Z/2026-04-02T10:03:00.000Z');
  });

  it('an empty answer is a stream with the schema and no rows', () => {
    const table = tableFromIPC(answerToArrow(view, { ...answer, rows: [] }));
    expect(table.numRows).toBe(0);
    expect(table.schema.fields.map((f) => f.name)).toEqual(answerColumns(view).map((column) => column.name));
  });

  it('CSV parses back to the JSON rows: header first, ISO-8601 times, top-k as JSON text, null as an empty cell', () => {
    const csv = answerToCsv(view, answer);
    expect(csv.split('\n')[0]).toBe('windowStart,windowEnd,shop,items,express,hour,orders,revenue,smallest,largest,mean,customers,top_customers');
    const records = parse(csv, { columns: true }) as Array<Record<string, string>>;
    const types = new Map(answerColumns(view).map((column) => [column.name, column.type]));
    const back = records.map((record) =>
      Object.fromEntries(
        Object.entries(record).map(([name, text]) => {
          if (text === '') return [name, types.get(name) === 'entries' ? [] : null];
          switch (types.get(name)) {
            case 'float':
            case 'int':
              return [name, Number(text)];
            case 'bool':
              return [name, text === 'true'];
            case 'entries':
              return [name, JSON.parse(text)];
            default:
              return [name, text];
          }
        }),
      ),
    );
    expect(back).toEqual(jsonRows);
    expect(answerToCsv(view, { ...answer, rows: [] })).toBe(`${[...answerColumns(view).map((column) => column.name)].join(',')}\n`);
  });

  it('Parquet (DuckDB) holds the same values with the same types; nulls stay null', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'braid-export-'));
    dirs.push(dir);
    const file = path.join(dir, 'answer.parquet');
    await writeAnswerParquet(view, answer, file);
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
      expect(described.getRowObjectsJson().map((row) => `${row.column_name}: ${row.column_type}`)).toEqual([
        'windowStart: TIMESTAMP WITH TIME ZONE',
        'windowEnd: TIMESTAMP WITH TIME ZONE',
        'shop: VARCHAR',
        'items: DOUBLE',
        'express: BOOLEAN',
        'hour: TIMESTAMP WITH TIME ZONE',
        'orders: BIGINT',
        'revenue: DOUBLE',
        'smallest: DOUBLE',
        'largest: DOUBLE',
        'mean: DOUBLE',
        'customers: BIGINT',
        'top_customers: STRUCT("value" VARCHAR, count BIGINT)[]',
      ]);
      const read = await connection.runAndReadAll(
        `SELECT * REPLACE (strftime(windowStart AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS windowStart, strftime(windowEnd AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS windowEnd,
           strftime(hour AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS hour) FROM read_parquet('${file}')`,
      );
      const rows = read.getRowObjectsJS().map((row) => ({
        ...row,
        orders: Number(row.orders as bigint),
        customers: Number(row.customers as bigint),
        top_customers: (row.top_customers as Array<{ value: string; count: bigint }>).map((entry) => ({ value: entry.value, count: Number(entry.count) })),
      }));
      expect(rows).toEqual(jsonRows);
      const metadata = await connection.runAndReadAll(`SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('${file}')`);
      expect(Object.fromEntries(metadata.getRowObjectsJson().map((row) => [row.key, row.value]))).toMatchObject({ 'Braid-Batch-Version': '4', 'Braid-Partial': 'true' });
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('freshness becomes headers: ISO times, comma lists, absent when there is none', () => {
    expect(freshnessHeaders(answer.meta)).toEqual({
      'Braid-Batch-Version': '4',
      'Braid-Batch-Cutoff': '2026-04-02T10:01:00.000Z',
      'Braid-Speed-Watermark': '2026-04-02T10:02:30.000Z',
      'Braid-Layers': 'batch,speed',
      'Braid-Partial': 'true',
      'Braid-Missing': '2026-04-02T10:02:00.000Z/2026-04-02T10:03:00.000Z',
      'Braid-From': '2026-04-02T10:00:00.000Z',
      'Braid-To': '2026-04-02T10:03:00.000Z',
      'Braid-Granularity': '1m',
      'Braid-Granularity-Ms': '60000',
      'Braid-Time-Zone': 'UTC',
      'Braid-Truncated': 'false',
      'Braid-Cached': 'false',
    });
    const empty = freshnessHeaders({ ...answer.meta, batchVersion: null, batchCutoffMs: null, speedWatermarkMs: null, layers: [], partial: false, missing: [] });
    expect(Object.keys(empty)).toEqual(['Braid-Partial', 'Braid-From', 'Braid-To', 'Braid-Granularity', 'Braid-Granularity-Ms', 'Braid-Time-Zone', 'Braid-Truncated', 'Braid-Cached']);
    const weekly = freshnessHeaders({ ...answer.meta, granularity: calendarGranularity('week', 'America/New_York'), timeZone: 'America/New_York' });
    expect([weekly['Braid-Granularity'], weekly['Braid-Granularity-Ms'], weekly['Braid-Time-Zone']]).toEqual(['1w', undefined, 'America/New_York']);
  });

  it('negotiates the format from Accept (q-values, wildcards) and refuses one it cannot answer with NOT_ACCEPTABLE', () => {
    expect(answerFormatFor(undefined)).toBe('json');
    expect(answerFormatFor('')).toBe('json');
    expect(answerFormatFor('*/*')).toBe('json');
    expect(answerFormatFor('application/json')).toBe('json');
    expect(answerFormatFor('application/vnd.apache.arrow.stream')).toBe('arrow');
    expect(answerFormatFor('text/csv')).toBe('csv');
    expect(answerFormatFor('text/csv; charset=utf-8')).toBe('csv');
    expect(answerFormatFor('text/*')).toBe('csv');
    expect(answerFormatFor('application/json;q=0.5, text/csv;q=0.9')).toBe('csv');
    expect(answerFormatFor('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('json');
    let thrown: unknown;
    try {
      answerFormatFor('application/xml, text/html');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BraidError);
    expect((thrown as BraidError).code).toBe(ErrorCode.NOT_ACCEPTABLE);
    expect((thrown as BraidError).message).toMatch(/application\/json, application\/vnd\.apache\.arrow\.stream, text\/csv/);
    expect(() => answerFormatFor('text/csv;q=0')).toThrow(BraidError);
  });
});
