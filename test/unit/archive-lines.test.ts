import path from 'node:path';
import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { ArchiveLines } from '../../batch/archive-lines.ts';
import { createDuckDbParquetWriter } from '../../batch/parquet-writer.ts';
import { defineSource, parseMessage, type Source } from '../../shared/sources/index.ts';
import { tempDir } from '../harness/index.ts';

const DAY_MS = 86_400_000;
const DAY = Date.parse('2026-03-01T00:00:00Z');

const orders = defineSource({
  name: 'orders',
  fields: {
    ts: { type: 'timestampMs' },
    order_id: { type: 'string' },
    amount: { type: 'float' },
    items: { type: 'int' },
    paid: { type: 'bool' },
    note: { type: 'string', nullable: true },
  },
  timeField: 'ts',
  keyFields: ['order_id'],
}) as unknown as Source;

/** Adds a message as the archiver does: parsed, validated, then its bytes and its event. */
function add(lines: ArchiveLines, text: string | Buffer, offset: number): Record<string, unknown> {
  const raw = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const value = parseMessage(raw);
  if (typeof value === 'string') throw new Error(value);
  const decoded = orders.validate(value);
  if (!decoded.ok) throw new Error(decoded.reason);
  lines.add(raw, value, decoded.event, String(offset));
  return { ...decoded.event, _kafka_partition: 7, _kafka_offset: offset };
}

/** Every line held, day by day (days in the order first seen). */
const lineList = (lines: ArchiveLines): string[] =>
  [...lines.days.values()].flatMap((day) => Buffer.concat(day.contents()).toString('utf8').trimEnd().split('\n'));

/** The days' Parquet files and scratch files in `dir`, as the archiver hands them to the writer. */
const dayFiles = (lines: ArchiveLines, dir: string, partition: number) =>
  [...lines.days.values()].map((day) => ({
    dayMs: day.dayMs,
    partition,
    file: path.join(dir, `${day.dayMs}.parquet`),
    scratchFile: path.join(dir, `${day.dayMs}.json.tmp`),
    lines: day.contents(),
    longestLine: day.longestLine,
  }));

describe('ArchiveLines', () => {
  it("keeps a message's own bytes after its offset when they stand for the event, and the event's JSON otherwise", () => {
    const lines = ArchiveLines.for(orders);
    const plain = `{"ts":${DAY + 5},"order_id":"o1","amount":9.5,"items":2,"paid":true,"extra":{"x":[1,2]}}`;
    add(lines, plain, 41);
    add(lines, `{"ts":"2026-03-01T00:00:01Z","order_id":"o2","amount":1,"items":1,"paid":false}`, 42);
    add(lines, `{\n  "ts": ${DAY + 2},\n  "order_id": "o3", "amount": 2, "items": 3, "paid": true\n}`, 43);
    add(lines, `{"ts":${DAY + 3},"order_id":"o4","amount":2,"items":3,"paid":true,"_kafka_offset":5}`, 44);
    add(lines, ` {"ts":${DAY + 4},"order_id":"o5","amount":2,"items":3,"paid":true}`, 45);
    expect(lineList(lines)).toEqual([
      `{"_kafka_offset":41,${plain.slice(1)}`,
      `{"_kafka_offset":42,"ts":${DAY + 1000},"order_id":"o2","amount":1,"items":1,"paid":false,"note":null}`,
      `{"_kafka_offset":43,"ts":${DAY + 2},"order_id":"o3","amount":2,"items":3,"paid":true,"note":null}`,
      `{"_kafka_offset":44,"ts":${DAY + 3},"order_id":"o4","amount":2,"items":3,"paid":true,"note":null}`,
      `{"_kafka_offset":45,"ts":${DAY + 4},"order_id":"o5","amount":2,"items":3,"paid":true,"note":null}`,
    ]);
    expect(lines.rows).toBe(5);
    expect(lines.bytes).toBe(lineList(lines).reduce((total, line) => total + Buffer.byteLength(line) + 1, 0));
    expect(lines.days.get(DAY)!.longestLine).toBe(Math.max(...lineList(lines).map((line) => Buffer.byteLength(line) + 1)));
  });

  it("keeps each day's lines and event-time range, in chunks of whole lines past the first chunk's size", () => {
    const lines = ArchiveLines.for(orders);
    const times = [DAY + 500, DAY - 1, DAY + DAY_MS + 7, DAY + 3, DAY + DAY_MS - 1, DAY - DAY_MS];
    const note = 'n'.repeat(100_000);
    for (const [index, ts] of times.entries()) add(lines, JSON.stringify({ ts, order_id: `o${index}`, amount: 1, items: 1, paid: true, note }), index);
    const days = [...lines.days.values()].sort((a, b) => a.dayMs - b.dayMs);
    expect(days.map(({ dayMs, minTimeMs, maxTimeMs, rows }) => ({ dayMs, minTimeMs, maxTimeMs, rows }))).toEqual([
      { dayMs: DAY - DAY_MS, minTimeMs: DAY - DAY_MS, maxTimeMs: DAY - 1, rows: 2 },
      { dayMs: DAY, minTimeMs: DAY + 3, maxTimeMs: DAY + DAY_MS - 1, rows: 3 },
      { dayMs: DAY + DAY_MS, minTimeMs: DAY + DAY_MS + 7, maxTimeMs: DAY + DAY_MS + 7, rows: 1 },
    ]);
    const offsets = (day: (typeof days)[number]) => day.contents().flatMap((chunk) => chunk.toString('utf8').trimEnd().split('\n').map((line) => JSON.parse(line)._kafka_offset as number));
    expect(days.map(offsets)).toEqual([[1, 5], [0, 3, 4], [2]]);
    // Each chunk holds whole lines: it ends with one.
    for (const day of days) for (const chunk of day.contents()) expect(chunk.at(-1)).toBe(0x0a);
    expect(days[1]!.contents().length).toBeGreaterThan(1);
    expect(lines.next().rows).toBe(0);
  });
});

describe('the Parquet writer on JSON lines', () => {
  it('writes one file per day holding exactly the validated events, with the Kafka coordinates and the field specs', async () => {
    using dir = tempDir('braid-archive-lines-');
    const lines = ArchiveLines.for(orders);
    const expected = [
      add(lines, `{"ts":${DAY + 5},"order_id":"o1","amount":9.25,"items":2,"paid":true,"note":"é \\"q\\" \\u0000 😀"}`, 100),
      add(lines, `{"ts":"2026-03-02T10:00:00+01:00","order_id":"o2","amount":3,"items":9007199254740991,"paid":false}`, 101),
      add(lines, `{"ts":${DAY + DAY_MS + 1},"amount":0.1,"order_id":"o3","items":-4,"paid":true,"note":null,"ignored":"x"}`, 105),
      add(lines, `{"ts":${DAY + 9},"order_id":"o4","amount":1e300,"items":0,"paid":false,"note":"a"}`, 106),
    ];
    const writer = await createDuckDbParquetWriter(orders);
    const days = dayFiles(lines, dir.path, 7);
    try {
      await writer.writeLines(days);
    } finally {
      writer.close();
    }
    for (const day of days) expect(existsSync(day.scratchFile)).toBe(false);
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      for (const { dayMs, file } of days) {
        const rows = (await connection.runAndReadAll(`SELECT * FROM read_parquet('${file}') ORDER BY _kafka_offset`)).getRowObjectsJS();
        const want = expected.filter((row) => Math.floor((row.ts as number) / DAY_MS) * DAY_MS === dayMs);
        expect(rows.map((row) => ({ ...row, ts: Number(row.ts), items: Number(row.items), _kafka_offset: Number(row._kafka_offset) }))).toEqual(want);
        const footer = (await connection.runAndReadAll(`SELECT decode(value) AS fields FROM parquet_kv_metadata('${file}') WHERE decode(key) = 'braid.fields'`)).getRowObjectsJS();
        expect(JSON.parse(String(footer[0]!.fields))).toMatchObject({ ts: { type: 'timestampMs', nullable: false }, note: { type: 'string', nullable: true } });
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('refuses JSON lines that JSON.parse takes but DuckDB does not, and leaves no scratch file', async () => {
    using dir = tempDir('braid-archive-lines-');
    const lines = ArchiveLines.for(orders);
    add(lines, `{"ts":${DAY},"order_id":"o1","order_id":"o2","amount":1,"items":1,"paid":true}`, 0);
    const writer = await createDuckDbParquetWriter(orders);
    const days = dayFiles(lines, dir.path, 0);
    try {
      await expect(writer.writeLines(days)).rejects.toThrow(/duplicate key/);
    } finally {
      writer.close();
    }
    expect(existsSync(days[0]!.scratchFile)).toBe(false);
  });
});
