import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BraidError } from '../../shared/errors/index.ts';
import {
  checkReplayFile,
  mapFieldValue,
  openReplayFile,
  replayFileFormatOf,
  replayMessages,
  replayReportLines,
  type ReplayRow,
} from '../../shared/replay/index.ts';
import { defineSource, type Source } from '../../shared/sources/index.ts';
import { orders, scratchDir, writeParquet } from '../fixtures/replay-orders.ts';

const ms = (iso: string) => Date.parse(iso);

async function readAll(file: string, format?: 'ndjson' | 'csv' | 'parquet'): Promise<ReplayRow[]> {
  const replay = await openReplayFile({ file, source: orders, ...(format ? { format } : {}) });
  const rows: ReplayRow[] = [];
  for await (const row of replay.rows()) rows.push(row);
  return rows;
}

async function openError(file: string, format?: 'ndjson' | 'csv' | 'parquet'): Promise<BraidError> {
  const error = await openReplayFile({ file, source: orders, ...(format ? { format } : {}) }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(BraidError);
  return error as BraidError;
}

const badRows = (rows: ReplayRow[]) => rows.flatMap((row) => (row.ok ? [] : [{ row: row.row, reason: row.problem.reason }]));

describe('mapFieldValue: file values to source field types', () => {
  it.each([
    ['int', 42n, 42],
    ['int', -7, -7],
    ['int', ' 12 ', 12],
    ['int', '1e3', 1000],
    ['int', '007', 7],
    ['float', '12.50', 12.5],
    ['float', 3n, 3],
    ['float', '-.5', -0.5],
    ['bool', 'TRUE', true],
    ['bool', 'no', false],
    ['bool', 1, true],
    ['bool', 0n, false],
    ['string', '00123', '00123'],
    ['timestampMs', '1767225600000', 1767225600000],
    ['timestampMs', 1767225600000n, 1767225600000],
    ['int', null, null],
    ['string', null, null],
  ] as const)('%s from %o is %o', (type, value, expected) => {
    expect(mapFieldValue('f', type, value)).toEqual({ ok: true, value: expected });
  });

  it('takes DuckDB\'s reading of a text timestamp over the text', () => {
    expect(mapFieldValue('ts', 'timestampMs', '2026-01-01 00:00:00', 1767225600000n)).toEqual({ ok: true, value: 1767225600000 });
  });

  it.each([
    ['int', 9007199254740993n, 'f: 9007199254740993 is beyond ±2^53, which a JSON number cannot hold exactly', 'f: integer beyond ±2^53'],
    ['int', '9007199254740993', 'f: 9007199254740993 is beyond ±2^53, which a JSON number cannot hold exactly', 'f: integer beyond ±2^53'],
    ['int', '1.5', 'f: "1.5" is not an integer', 'f: not an integer'],
    ['int', '0x10', 'f: "0x10" is not an integer', 'f: not an integer'],
    ['float', 'abc', 'f: "abc" is not a number', 'f: not a number'],
    ['float', 'NaN', 'f: "NaN" is not a number', 'f: not a number'],
    ['bool', 'maybe', 'f: "maybe" is not true or false', 'f: not true or false'],
    ['bool', 2, 'f: 2 is not true or false', 'f: not true or false'],
    ['timestampMs', 'yesterday', 'f: "yesterday" is not a timestamp', 'f: not a timestamp'],
  ] as const)('%s from %o is a problem', (type, value, reason, group) => {
    expect(mapFieldValue('f', type, value)).toEqual({ ok: false, reason, group });
  });
});

describe('replayFileFormatOf', () => {
  it('goes by the extension, or by the format given', () => {
    expect(['a.ndjson', 'a.jsonl', 'a.JSON', 'a.csv', 'a.parquet'].map((file) => replayFileFormatOf(file))).toEqual(['ndjson', 'ndjson', 'ndjson', 'csv', 'parquet']);
    expect(replayFileFormatOf('events.txt', 'csv')).toBe('csv');
  });

  it('refuses an unknown extension, naming the file and --file-format', () => {
    expect(() => replayFileFormatOf('events.txt')).toThrow(/events\.txt: cannot tell the format from the extension \.txt/);
    try {
      replayFileFormatOf('events');
    } catch (error) {
      expect((error as BraidError).code).toBe('BAD_ARGUMENT');
      expect((error as BraidError).hint).toMatch(/--file-format ndjson\|csv\|parquet/);
    }
  });
});

describe('openReplayFile: whole-file problems fail before a row is read', () => {
  it('a missing file, an empty CSV or Parquet file (an empty NDJSON file is no rows), an unknown extension', async () => {
    using dir = scratchDir();
    expect((await openError(dir.file('nope.csv'))).message).toBe(`cannot read ${dir.file('nope.csv')}: no such file`);
    writeFileSync(dir.file('empty.parquet'), '');
    expect((await openError(dir.file('empty.parquet'))).message).toMatch(/empty\.parquet is empty$/);
    writeFileSync(dir.file('empty.csv'), '');
    expect((await openError(dir.file('empty.csv'))).message).toMatch(/empty\.csv is empty$/);
    writeFileSync(dir.file('empty.ndjson'), '');
    expect(await readAll(dir.file('empty.ndjson'))).toEqual([]);
    writeFileSync(dir.file('events.txt'), '{}\n');
    expect((await openError(dir.file('events.txt'))).code).toBe('BAD_ARGUMENT');
  });

  it('a file that is not Parquet', async () => {
    using dir = scratchDir();
    writeFileSync(dir.file('events.parquet'), 'ts,order_id\n1,2\n');
    const error = await openError(dir.file('events.parquet'));
    expect(error.code).toBe('BAD_ARGUMENT');
    expect(error.message).toMatch(new RegExp(`^cannot read ${dir.file('events.parquet')} as Parquet: `));
    expect(error.message).not.toContain('\n');
  });

  it('a JSON array instead of one object per line', async () => {
    using dir = scratchDir();
    writeFileSync(dir.file('events.json'), '\n  [{"ts": 1}]\n');
    expect((await openError(dir.file('events.json'))).message).toMatch(/holds a JSON array; replay reads one JSON object per line/);
  });

  it('a non-nullable field without a column, named with the file', async () => {
    using dir = scratchDir();
    await writeParquet(dir.file('no-zip.parquet'), "SELECT TIMESTAMP '2026-01-01 00:00:00' AS ts, 'o1' AS order_id, 1 AS quantity");
    const error = await openError(dir.file('no-zip.parquet'));
    expect(error.code).toBe('BAD_ARGUMENT');
    expect(error.message).toBe(`${dir.file('no-zip.parquet')} has no column for field zip of source replay_orders, which is not nullable`);
    writeFileSync(dir.file('no-ids.csv'), 'ts,quantity\n2026-01-01,1\n');
    expect((await openError(dir.file('no-ids.csv'))).message).toMatch(/no-ids\.csv has no column for fields order_id, zip of source replay_orders/);
  });

  it('a column whose type cannot fill its field', async () => {
    using dir = scratchDir();
    await writeParquet(dir.file('bool-ts.parquet'), "SELECT true AS ts, 'o1' AS order_id, '1' AS zip, 1 AS quantity");
    expect((await openError(dir.file('bool-ts.parquet'))).message).toMatch(/column ts is BOOLEAN, which cannot fill the timestampMs field ts/);
  });
});

describe('Parquet rows', () => {
  it('maps TIMESTAMP, TIMESTAMPTZ, DATE, DECIMAL, BIGINT and VARCHAR columns, ignores extra columns and nulls absent nullable fields', async () => {
    using dir = scratchDir();
    const file = dir.file('orders.parquet');
    await writeParquet(
      file,
      `SELECT * FROM (VALUES
         (TIMESTAMP '2026-01-01 10:00:00.250', 'o1', '00123', 3::BIGINT, 12.34::DECIMAL(10,2), true, DATE '2026-01-02', 'x'),
         (TIMESTAMP '2026-01-01 11:00:00', 'o2', '00042', 9007199254740993::BIGINT, NULL, NULL, NULL, 'y'),
         (TIMESTAMP '2026-01-01 12:00:00', NULL, '00007', 5::BIGINT, 1.5::DECIMAL(10,2), false, DATE '1970-01-01', 'z')
       ) AS t(ts, order_id, zip, quantity, amount, paid, shipped_on, extra)`,
    );
    const replay = await openReplayFile({ file, source: orders });
    expect(replay.format).toBe('parquet');
    expect(replay.totalRows).toBe(3);
    expect(replay.ignoredColumns()).toEqual(['extra']);
    expect(replay.absentFields).toEqual(['note']);
    const rows: ReplayRow[] = [];
    for await (const row of replay.rows()) rows.push(row);
    expect(rows[0]).toEqual({
      ok: true,
      row: 1,
      event: { ts: ms('2026-01-01T10:00:00.250Z'), order_id: 'o1', zip: '00123', quantity: 3, amount: 12.34, paid: true, shipped_on: ms('2026-01-02T00:00:00Z'), note: null },
      key: 'o1|00123',
    });
    expect(badRows(rows)).toEqual([
      { row: 2, reason: 'quantity: 9007199254740993 is beyond ±2^53, which a JSON number cannot hold exactly' },
      { row: 3, reason: 'order_id: missing' },
    ]);
    const second = rows[1]!;
    expect(second.ok ? undefined : JSON.parse(second.raw)).toMatchObject({ order_id: 'o2', zip: '00042', quantity: '9007199254740993', amount: null });
  });

  it('reads a TIMESTAMPTZ as its instant, and integer epoch ms as they are', async () => {
    using dir = scratchDir();
    const file = dir.file('tz.parquet');
    await writeParquet(
      file,
      "SELECT TIMESTAMPTZ '2026-01-01 10:00:00+02:00' AS ts, 'o1' AS order_id, '1' AS zip, 1::TINYINT AS quantity, 1767225600000::BIGINT AS shipped_on, 7 AS note",
    );
    const [row] = await readAll(file);
    expect(row).toMatchObject({ ok: true, event: { ts: ms('2026-01-01T08:00:00Z'), quantity: 1, shipped_on: 1767225600000, note: '7' } });
  });

  it('gives a field in epoch seconds the same instants from TIMESTAMP, text and integer columns', async () => {
    using dir = scratchDir();
    const inSeconds = defineSource({
      name: 'replay_seconds',
      fields: { at: { type: 'timestampMs', unit: 's' }, id: { type: 'string' }, seen: { type: 'timestampMs', unit: 's', nullable: true } },
      timeField: 'at',
      keyFields: ['id'],
    }) as unknown as Source;
    const parquet = dir.file('seconds.parquet');
    await writeParquet(parquet, "SELECT TIMESTAMP '2026-01-01 00:00:01.5' AS at, 'a' AS id, 1767225602::BIGINT AS seen");
    const csv = dir.file('seconds.csv');
    writeFileSync(csv, 'at,id,seen\n2026-01-01T00:00:01.500Z,a,1767225602\n');
    const fractions = dir.file('fractions.csv');
    writeFileSync(fractions, 'at,id,seen\n1767225601.5,a,1767225602.0\n');
    for (const file of [parquet, csv, fractions]) {
      const replay = await openReplayFile({ file, source: inSeconds });
      const rows: ReplayRow[] = [];
      for await (const row of replay.rows()) rows.push(row);
      expect(rows, file).toEqual([expect.objectContaining({ ok: true, event: { at: ms('2026-01-01T00:00:01.500Z'), id: 'a', seen: ms('2026-01-01T00:00:02Z') } })]);
      // Sent in seconds, as the source's events are: the speed worker and the archiver decode the same instants.
      const sent = [];
      for await (const message of replayMessages((await openReplayFile({ file, source: inSeconds })).rows(), { source: inSeconds, dlqTopic: 'x.dlq', file })) sent.push(message);
      expect(JSON.parse(sent[0]!.value as string)).toMatchObject({ at: 1767225601.5, seen: 1767225602 });
      expect(inSeconds.decode(sent[0]!.value as string)).toEqual({ ok: true, event: rows[0]!.ok ? rows[0]!.event : undefined });
    }
  });

  it('reads a large file in chunks, every row once and in order', async () => {
    using dir = scratchDir();
    const file = dir.file('many.parquet');
    await writeParquet(file, "SELECT TIMESTAMP '2026-01-01' + to_seconds(i) AS ts, 'o' || i AS order_id, '1' AS zip, i AS quantity FROM range(10000) t(i)");
    const rows = await readAll(file);
    expect(rows).toHaveLength(10_000);
    expect(rows.every((row, index) => row.ok && row.row === index + 1 && row.event.quantity === index)).toBe(true);
  });
});

describe('CSV rows', () => {
  it('types text by the source: leading zeros stay, timestamps in several forms, numbers and bools parsed', async () => {
    using dir = scratchDir();
    const file = dir.file('orders.csv');
    writeFileSync(
      file,
      [
        'ts,order_id,zip,quantity,amount,paid,shipped_on,extra',
        '2026-01-01 10:00:00,o1,00123,3,12.50,true,2026-01-02,x',
        '2026-01-01T10:00:00+02:00,o2,00042,4,,false,,y',
        '1767225600000,o3,007,5,1,,2026-01-03,z',
      ].join('\n') + '\n',
    );
    const replay = await openReplayFile({ file, source: orders });
    expect(replay.ignoredColumns()).toEqual(['extra']);
    expect(replay.absentFields).toEqual(['note']);
    const events: unknown[] = [];
    for await (const row of replay.rows()) events.push(row.ok ? row.event : row.problem.reason);
    expect(events).toEqual([
      { ts: ms('2026-01-01T10:00:00Z'), order_id: 'o1', zip: '00123', quantity: 3, amount: 12.5, paid: true, shipped_on: ms('2026-01-02T00:00:00Z'), note: null },
      { ts: ms('2026-01-01T08:00:00Z'), order_id: 'o2', zip: '00042', quantity: 4, amount: null, paid: false, shipped_on: null, note: null },
      { ts: 1767225600000, order_id: 'o3', zip: '007', quantity: 5, amount: 1, paid: null, shipped_on: ms('2026-01-03T00:00:00Z'), note: null },
    ]);
  });

  it('reports bad rows with their data row number, and reads on past them', async () => {
    using dir = scratchDir();
    const file = dir.file('bad.csv');
    writeFileSync(
      file,
      [
        'order_id,ts,zip,quantity,amount',
        'o1,2026-01-01T00:00:00Z,1,1,1.5',
        'o2,yesterday,1,1,1.5',
        'o3,2026-01-01T00:00:00Z,1,1.5,abc',
        'o4,2026-01-01T00:00:00Z',
        'o5,2026-01-01T00:00:00Z,1,9007199254740993,1',
        'o6,2026-01-01T00:00:00Z,1,2,2',
      ].join('\n') + '\n',
    );
    const rows = await readAll(file);
    expect(rows.map((row) => row.row)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(badRows(rows)).toEqual([
      { row: 2, reason: 'ts: "yesterday" is not a timestamp' },
      { row: 3, reason: 'quantity: "1.5" is not an integer; amount: "abc" is not a number' },
      { row: 4, reason: 'zip: missing; quantity: missing' },
      { row: 5, reason: 'quantity: 9007199254740993 is beyond ±2^53, which a JSON number cannot hold exactly' },
    ]);
    const third = rows[2]!;
    expect(third.ok ? undefined : JSON.parse(third.raw)).toEqual({ ts: '2026-01-01T00:00:00Z', order_id: 'o3', zip: '1', quantity: '1.5', amount: 'abc' });
  });

  it('a value unlike the sniffed type far into the file is one bad row, not the end of the read', async () => {
    using dir = scratchDir();
    const file = dir.file('late-surprise.csv');
    const lines = ['ts,order_id,zip,quantity'];
    for (let index = 0; index < 30_000; index++) lines.push(`2026-01-01 00:00:00,o${index},${index},${index}`);
    lines.push('2026-01-01 00:00:00,last,1,lots');
    lines.push('2026-01-01 00:00:00,after,1,1');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const tally = await checkReplayFile(await openReplayFile({ file, source: orders }));
    expect({ read: tally.read, valid: tally.valid, bad: tally.bad }).toEqual({ read: 30_002, valid: 30_001, bad: 1 });
    expect(tally.firstBad).toEqual([{ row: 30_001, reason: 'quantity: "lots" is not an integer' }]);
  });

  it('honours a sniffed date format and another delimiter', async () => {
    using dir = scratchDir();
    const file = dir.file('semicolons.csv');
    writeFileSync(file, 'ts;order_id;zip;quantity\n31/12/2026;"a;b";01;1\n02/01/2026;c;02;2\n');
    const rows = await readAll(file);
    expect(rows.map((row) => (row.ok ? [row.event.ts, row.event.order_id, row.event.zip] : row.problem.reason))).toEqual([
      [ms('2026-12-31T00:00:00Z'), 'a;b', '01'],
      [ms('2026-01-02T00:00:00Z'), 'c', '02'],
    ]);
  });
});

describe('NDJSON rows', () => {
  it('validates line by line: row numbers are line numbers, a bad line is a bad row', async () => {
    using dir = scratchDir();
    const file = dir.file('orders.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ ts: '2026-01-01T00:00:00Z', order_id: 'o1', zip: '00123', quantity: 1, extra: true }),
        '',
        JSON.stringify({ ts: 1767225600000, order_id: 'o2', quantity: 2 }),
        '{"ts": 1767225600000, "order_id": "o3"',
        '[1, 2]',
        JSON.stringify({ ts: 1767225600000, order_id: 'o4', zip: '9', quantity: 1.5, another: 1 }),
        JSON.stringify({ ts: 1767225600000, order_id: 'o5', zip: '9', quantity: 7, amount: null }),
      ].join('\n'),
    );
    const replay = await openReplayFile({ file, source: orders });
    const rows: ReplayRow[] = [];
    for await (const row of replay.rows()) rows.push(row);
    expect(rows.map((row) => row.row)).toEqual([1, 3, 4, 5, 6, 7]);
    expect(rows[0]).toMatchObject({ ok: true, event: { ts: 1767225600000, order_id: 'o1', zip: '00123', amount: null, note: null }, key: 'o1|00123' });
    expect(rows[5]).toMatchObject({ ok: true, row: 7, key: 'o5|9' });
    const bad = badRows(rows);
    expect(bad.map(({ row }) => row)).toEqual([3, 4, 5, 6]);
    expect(bad[0]!.reason).toBe('zip: missing');
    expect(bad[1]!.reason).toMatch(/^malformed JSON: /);
    expect(bad[2]!.reason).toBe('not a JSON object');
    expect(bad[3]!.reason).toMatch(/^schema: quantity: /);
    expect(rows[2]!.ok ? undefined : rows[2]!.raw).toBe('{"ts": 1767225600000, "order_id": "o3"');
    expect(replay.ignoredColumns()).toEqual(['extra', 'another']);
  });

  it('reads a .txt file as NDJSON when told to', async () => {
    using dir = scratchDir();
    writeFileSync(dir.file('orders.txt'), `${JSON.stringify({ ts: 1767225600000, order_id: 'o1', zip: '1', quantity: 1 })}\n`);
    expect(await readAll(dir.file('orders.txt'), 'ndjson')).toMatchObject([{ ok: true, key: 'o1|1' }]);
  });
});

describe('dry-run counts and dead-letter messages', () => {
  it('groups bad rows by field and problem, not by value, and stops at a count', async () => {
    using dir = scratchDir();
    const file = dir.file('orders.csv');
    writeFileSync(
      file,
      ['ts,order_id,zip,quantity', ...['a', 'b', 'c'].map((q) => `2026-01-01,o,1,${q}`), '2026-01-01,o,1,1', 'soon,o,1,1', '2026-01-01,o,1,2'].join('\n'),
    );
    const tally = await checkReplayFile(await openReplayFile({ file, source: orders }));
    expect({ read: tally.read, valid: tally.valid, bad: tally.bad }).toEqual({ read: 6, valid: 2, bad: 4 });
    expect(tally.groups()).toEqual([
      { group: 'quantity: not an integer', count: 3 },
      { group: 'ts: not a timestamp', count: 1 },
    ]);
    expect(replayReportLines(tally)).toEqual([
      'bad rows by problem:',
      '  3  quantity: not an integer',
      '  1  ts: not a timestamp',
      'first bad rows:',
      '  row 1: quantity: "a" is not an integer',
      '  row 2: quantity: "b" is not an integer',
      '  row 3: quantity: "c" is not an integer',
      '  row 5: ts: "soon" is not a timestamp',
    ]);
    const firstTwo = await checkReplayFile(await openReplayFile({ file, source: orders }), { count: 2 });
    expect(firstTwo.read).toBe(2);
  });

  it('turns valid rows into keyed JSON events and bad rows into dead letters with reason, file and row', async () => {
    using dir = scratchDir();
    const file = dir.file('orders.csv');
    writeFileSync(file, 'ts,order_id,zip,quantity\n2026-01-01,o1,007,1\n2026-01-01,o2,1,many\n');
    const replay = await openReplayFile({ file, source: orders });
    const messages = [];
    for await (const message of replayMessages(replay.rows(), { source: orders, dlqTopic: 'orders.dlq', file })) messages.push(message);
    expect(messages).toEqual([
      {
        key: 'o1|007',
        value: JSON.stringify({ ts: ms('2026-01-01T00:00:00Z'), order_id: 'o1', zip: '007', quantity: 1, amount: null, paid: null, shipped_on: null, note: null }),
        kind: 'valid',
      },
      {
        key: null,
        value: JSON.stringify({ ts: '2026-01-01', order_id: 'o2', zip: '1', quantity: 'many' }),
        kind: 'bad',
        topic: 'orders.dlq',
        headers: { 'braid-error': 'quantity: "many" is not an integer', 'braid-source-file': file, 'braid-source-row': '2' },
      },
    ]);
  });
});
