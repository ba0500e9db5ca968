import { mkdirSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIGINT,
  DOUBLE,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTableFunction,
  INTEGER,
  VARCHAR,
  type DuckDBBigIntVector,
  type DuckDBConnection,
  type DuckDBDoubleVector,
  type DuckDBIntegerVector,
  type DuckDBVarCharVector,
} from '@duckdb/node-api';
import { tableFromArrays, type Table } from 'apache-arrow';
import { ClickstreamGenerator } from '../shared/demo/index.ts';
import { sqlStringLiteral } from '../shared/sql/index.ts';
import { bestRate, defineBenchmark } from './lib/benchmark.ts';

const EVENTS = 200_000;
const ROWS_PER_FILE = 50_000;
const BASE_TIME_MS = 1_767_225_600_000;
/** Above 2^32, so a writer that narrows BIGINT to 32 bits fails the check. */
const BASE_KAFKA_OFFSET = 10_000_000_000;
/** DuckDB's standard vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2_048;
/** Rows per multi-row INSERT in the prepared-statement path (9 parameters each). */
const PREPARED_ROWS = 500;

/** One archived clickstream event: the decoded Kafka value plus where it came from. */
interface ArchiveRow {
  ts: number;
  user_id: string;
  session_id: string;
  url: string;
  country: string;
  device: string;
  revenue: number | null;
  kafka_partition: number;
  kafka_offset: number;
}

const COLUMN_NAMES = ['ts', 'user_id', 'session_id', 'url', 'country', 'device', 'revenue', 'kafka_partition', 'kafka_offset'] as const;
const COLUMN_TYPES = [BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR, DOUBLE, INTEGER, BIGINT];
const EXPECTED_PARQUET_TYPES = ['BIGINT', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'DOUBLE', 'INTEGER', 'BIGINT'];
const TABLE_COLUMNS_SQL =
  'ts BIGINT NOT NULL, user_id VARCHAR, session_id VARCHAR, url VARCHAR, country VARCHAR, device VARCHAR, ' +
  'revenue DOUBLE, kafka_partition INTEGER, kafka_offset BIGINT';
const JSON_COLUMNS_SQL =
  "{ts: 'BIGINT', user_id: 'VARCHAR', session_id: 'VARCHAR', url: 'VARCHAR', country: 'VARCHAR', device: 'VARCHAR', " +
  "revenue: 'DOUBLE', kafka_partition: 'INTEGER', kafka_offset: 'BIGINT'}";
const PARQUET_OPTIONS_SQL = '(FORMAT parquet, COMPRESSION zstd)';

/** One way of turning a batch of decoded events into one Parquet file. */
interface ParquetWriterCandidate {
  /** Prefix of its figures, e.g. `duckdb_appender`. */
  readonly key: string;
  readonly description: string;
  /** Timed rounds after the warm-up (slow candidates get fewer to keep the run short). */
  readonly repeats: number;
  writeFile(path: string, rows: readonly ArchiveRow[]): Promise<void>;
}

// parquetjs-lite ships no type declarations; this is the part of its API used here.
interface ParquetJsWriter {
  appendRow(row: object): Promise<void>;
  close(): Promise<void>;
}
interface ParquetJsModule {
  ParquetSchema: new (fields: Record<string, { type: string; optional?: boolean; compression?: string }>) => object;
  ParquetWriter: { openFile(schema: object, path: string, options?: { rowGroupSize?: number }): Promise<ParquetJsWriter> };
}

function parquetjsLite(compression: 'SNAPPY' | 'GZIP', key: string, repeats: number): ParquetWriterCandidate {
  const parquet = createRequire(import.meta.url)('parquetjs-lite') as ParquetJsModule;
  const text = { type: 'UTF8', compression };
  const schema = new parquet.ParquetSchema({
    ts: { type: 'INT64', compression },
    user_id: text,
    session_id: text,
    url: text,
    country: text,
    device: text,
    revenue: { type: 'DOUBLE', optional: true, compression },
    kafka_partition: { type: 'INT32', compression },
    kafka_offset: { type: 'INT64', compression },
  });
  return {
    key,
    description: `parquetjs-lite, ${compression}, one row group per file`,
    repeats,
    async writeFile(path, rows) {
      // One row group per file, as DuckDB writes a 50,000-row file (its row groups hold
      // up to 122,880 rows), so the sizes compare like for like.
      const writer = await parquet.ParquetWriter.openFile(schema, path, { rowGroupSize: rows.length });
      for (const row of rows) await writer.appendRow(row);
      await writer.close();
    },
  };
}

/** Fills `chunk` (already sized) with `rows[start…]`, column by column. */
function fillChunk(chunk: DuckDBDataChunk, rows: readonly ArchiveRow[], start: number): void {
  const count = chunk.rowCount;
  const ts = chunk.getColumnVector(0) as DuckDBBigIntVector;
  const texts = [1, 2, 3, 4, 5].map((column) => chunk.getColumnVector(column) as DuckDBVarCharVector);
  const revenue = chunk.getColumnVector(6) as DuckDBDoubleVector;
  const partition = chunk.getColumnVector(7) as DuckDBIntegerVector;
  const offset = chunk.getColumnVector(8) as DuckDBBigIntVector;
  for (let index = 0; index < count; index++) {
    const row = rows[start + index]!;
    ts.setItem(index, BigInt(row.ts));
    texts[0]!.setItem(index, row.user_id);
    texts[1]!.setItem(index, row.session_id);
    texts[2]!.setItem(index, row.url);
    texts[3]!.setItem(index, row.country);
    texts[4]!.setItem(index, row.device);
    revenue.setItem(index, row.revenue);
    partition.setItem(index, row.kafka_partition);
    offset.setItem(index, BigInt(row.kafka_offset));
  }
  ts.flush();
  for (const text of texts) text.flush();
  revenue.flush();
  partition.flush();
  offset.flush();
}

/** Each DuckDB path stages the batch in its own table, then `COPY … TO` the file. */
async function stagingTable(connection: DuckDBConnection, table: string): Promise<(path: string) => Promise<void>> {
  await connection.run(`CREATE OR REPLACE TABLE ${table} (${TABLE_COLUMNS_SQL})`);
  return async (path) => {
    await connection.run(`COPY ${table} TO ${sqlStringLiteral(path)} ${PARQUET_OPTIONS_SQL}`);
    await connection.run(`TRUNCATE ${table}`);
  };
}

async function duckdbAppender(connection: DuckDBConnection): Promise<ParquetWriterCandidate> {
  const copyAndEmpty = await stagingTable(connection, 'events_appender');
  return {
    key: 'duckdb_appender',
    description: 'DuckDB Appender, one append call per value, then COPY TO parquet (zstd)',
    repeats: 3,
    async writeFile(path, rows) {
      const appender = await connection.createAppender('events_appender');
      for (const row of rows) {
        appender.appendBigInt(BigInt(row.ts));
        appender.appendVarchar(row.user_id);
        appender.appendVarchar(row.session_id);
        appender.appendVarchar(row.url);
        appender.appendVarchar(row.country);
        appender.appendVarchar(row.device);
        if (row.revenue === null) appender.appendNull();
        else appender.appendDouble(row.revenue);
        appender.appendInteger(row.kafka_partition);
        appender.appendBigInt(BigInt(row.kafka_offset));
        appender.endRow();
      }
      appender.closeSync();
      await copyAndEmpty(path);
    },
  };
}

async function duckdbDataChunk(connection: DuckDBConnection): Promise<ParquetWriterCandidate> {
  const copyAndEmpty = await stagingTable(connection, 'events_chunk');
  return {
    key: 'duckdb_chunk',
    description: `DuckDB Appender.appendDataChunk, ${CHUNK_ROWS}-row chunks filled column by column, then COPY TO parquet (zstd)`,
    repeats: 3,
    async writeFile(path, rows) {
      const appender = await connection.createAppender('events_chunk');
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        const chunk = DuckDBDataChunk.create(COLUMN_TYPES, Math.min(CHUNK_ROWS, rows.length - start));
        fillChunk(chunk, rows, start);
        appender.appendDataChunk(chunk);
      }
      appender.closeSync();
      await copyAndEmpty(path);
    },
  };
}

/**
 * A JS table function that scans a registered batch, so `COPY (FROM fn(id)) TO`
 * writes the file with no staging table. `fill` writes one output chunk from
 * the batch; the Arrow path uses it to read Arrow vectors.
 */
function registerBatchScan<Batch>(
  connection: DuckDBConnection,
  name: string,
  lengthOf: (batch: Batch) => number,
  fill: (chunk: DuckDBDataChunk, batch: Batch, start: number) => void,
): Map<number, Batch> {
  const batches = new Map<number, Batch>();
  connection.registerTableFunction(
    DuckDBTableFunction.create({
      name,
      parameterTypes: [INTEGER],
      bindFunction: (info) => {
        const batchId = info.getParameter(0) as number;
        COLUMN_NAMES.forEach((column, index) => info.addResultColumn(column, COLUMN_TYPES[index]!));
        info.setBindData({ batchId });
      },
      initFunction: (info) => info.setInitData({ next: 0 }),
      mainFunction: (info, output) => {
        const { batchId } = info.bindData as { batchId: number };
        const state = info.initData as { next: number };
        const batch = batches.get(batchId);
        if (batch === undefined) {
          info.setError(`no batch ${batchId}`);
          return;
        }
        const count = Math.min(CHUNK_ROWS, lengthOf(batch) - state.next);
        output.rowCount = count;
        if (count > 0) fill(output, batch, state.next);
        state.next += count;
      },
    }),
  );
  return batches;
}

function duckdbTableFunction(connection: DuckDBConnection): ParquetWriterCandidate {
  const batches = registerBatchScan<readonly ArchiveRow[]>(connection, 'scan_rows', (rows) => rows.length, fillChunk);
  let nextBatchId = 0;
  return {
    key: 'duckdb_table_function',
    description: 'JS table function scanning the rows, COPY (FROM scan_rows(id)) TO parquet (zstd), no staging table',
    repeats: 3,
    async writeFile(path, rows) {
      const batchId = nextBatchId++;
      batches.set(batchId, rows);
      try {
        await connection.run(`COPY (FROM scan_rows(${batchId})) TO ${sqlStringLiteral(path)} ${PARQUET_OPTIONS_SQL}`);
      } finally {
        batches.delete(batchId);
      }
    },
  };
}

function duckdbNdjson(connection: DuckDBConnection, scratchDir: string): ParquetWriterCandidate {
  return {
    key: 'duckdb_ndjson',
    description: 'JSON.stringify each row to a temp NDJSON file, COPY (FROM read_json(…, columns = explicit)) TO parquet (zstd)',
    repeats: 3,
    async writeFile(path, rows) {
      const jsonPath = join(scratchDir, 'batch.ndjson');
      let text = '';
      for (const row of rows) text += `${JSON.stringify(row)}\n`;
      writeFileSync(jsonPath, text);
      try {
        await connection.run(
          `COPY (FROM read_json(${sqlStringLiteral(jsonPath)}, format = 'newline_delimited', columns = ${JSON_COLUMNS_SQL})) ` +
            `TO ${sqlStringLiteral(path)} ${PARQUET_OPTIONS_SQL}`,
        );
      } finally {
        unlinkSync(jsonPath);
      }
    },
  };
}

async function duckdbPrepared(connection: DuckDBConnection): Promise<ParquetWriterCandidate> {
  const copyAndEmpty = await stagingTable(connection, 'events_prepared');
  const placeholders = (rowCount: number): string =>
    Array.from({ length: rowCount }, (_, row) => `(${Array.from({ length: 9 }, (_, column) => `$${row * 9 + column + 1}`).join(', ')})`).join(', ');
  const full = await connection.prepare(`INSERT INTO events_prepared VALUES ${placeholders(PREPARED_ROWS)}`);
  return {
    key: 'duckdb_prepared',
    description: `prepared multi-row INSERT (${PREPARED_ROWS} rows, ${PREPARED_ROWS * 9} bound parameters), then COPY TO parquet (zstd)`,
    repeats: 1,
    async writeFile(path, rows) {
      for (let start = 0; start < rows.length; start += PREPARED_ROWS) {
        const count = Math.min(PREPARED_ROWS, rows.length - start);
        const statement = count === PREPARED_ROWS ? full : await connection.prepare(`INSERT INTO events_prepared VALUES ${placeholders(count)}`);
        for (let index = 0; index < count; index++) {
          const row = rows[start + index]!;
          const first = index * 9 + 1;
          statement.bindBigInt(first, BigInt(row.ts));
          statement.bindVarchar(first + 1, row.user_id);
          statement.bindVarchar(first + 2, row.session_id);
          statement.bindVarchar(first + 3, row.url);
          statement.bindVarchar(first + 4, row.country);
          statement.bindVarchar(first + 5, row.device);
          if (row.revenue === null) statement.bindNull(first + 6);
          else statement.bindDouble(first + 6, row.revenue);
          statement.bindInteger(first + 7, row.kafka_partition);
          statement.bindBigInt(first + 8, BigInt(row.kafka_offset));
        }
        await statement.run();
      }
      await copyAndEmpty(path);
    },
  };
}

/**
 * The node-api has no Arrow ingestion (the C API's Arrow functions are not
 * bound, and the nanoarrow extension needs a download), so the only way to hand
 * an Arrow table to DuckDB is to read its vectors in a JS table function.
 */
function arrowDuckdb(connection: DuckDBConnection): ParquetWriterCandidate {
  const fillFromArrow = (chunk: DuckDBDataChunk, table: Table, start: number): void => {
    const count = chunk.rowCount;
    for (let columnIndex = 0; columnIndex < COLUMN_NAMES.length; columnIndex++) {
      const source = table.getChildAt(columnIndex)!;
      const target = chunk.getColumnVector(columnIndex) as { setItem(index: number, value: unknown): void; flush(): void };
      for (let index = 0; index < count; index++) target.setItem(index, source.get(start + index));
      target.flush();
    }
  };
  const batches = registerBatchScan<Table>(connection, 'scan_arrow', (table) => table.numRows, fillFromArrow);
  let nextBatchId = 0;
  return {
    key: 'arrow_duckdb',
    description: 'apache-arrow table (tableFromArrays), scanned by a JS table function, COPY TO parquet (zstd)',
    repeats: 2,
    async writeFile(path, rows) {
      const count = rows.length;
      const ts = new BigInt64Array(count);
      const offsets = new BigInt64Array(count);
      const partitions = new Int32Array(count);
      const revenue: (number | null)[] = new Array(count);
      const texts: string[][] = [[], [], [], [], []];
      rows.forEach((row, index) => {
        ts[index] = BigInt(row.ts);
        texts[0]!.push(row.user_id);
        texts[1]!.push(row.session_id);
        texts[2]!.push(row.url);
        texts[3]!.push(row.country);
        texts[4]!.push(row.device);
        revenue[index] = row.revenue;
        partitions[index] = row.kafka_partition;
        offsets[index] = BigInt(row.kafka_offset);
      });
      const table = tableFromArrays({
        ts,
        user_id: texts[0]!,
        session_id: texts[1]!,
        url: texts[2]!,
        country: texts[3]!,
        device: texts[4]!,
        revenue,
        kafka_partition: partitions,
        kafka_offset: offsets,
      });
      const batchId = nextBatchId++;
      batches.set(batchId, table);
      try {
        await connection.run(`COPY (FROM scan_arrow(${batchId})) TO ${sqlStringLiteral(path)} ${PARQUET_OPTIONS_SQL}`);
      } finally {
        batches.delete(batchId);
      }
    },
  };
}

/** Aggregates a correct archive must reproduce, as strings (exact) plus `sum(revenue)` (a float sum, order-dependent). */
interface ArchiveSummary {
  exact: Record<string, string>;
  revenueSum: number;
}

const SUMMARY_SQL = (dir: string): string => `
  SELECT
    count(*)::VARCHAR AS rows,
    count(DISTINCT user_id)::VARCHAR AS users,
    count(DISTINCT session_id)::VARCHAR AS sessions,
    count(revenue)::VARCHAR AS revenue_rows,
    sum(round(revenue * 100))::BIGINT::VARCHAR AS revenue_cents,
    sum(ts)::VARCHAR AS ts_sum,
    sum(kafka_partition)::VARCHAR AS partition_sum,
    sum(kafka_offset)::VARCHAR AS offset_sum,
    sum(length(user_id) + length(session_id) + length(url) + length(country) + length(device))::VARCHAR AS text_chars,
    sum(revenue)::DOUBLE AS revenue_sum
  FROM read_parquet(${sqlStringLiteral(join(dir, '*.parquet'))})`;

function summarise(rows: readonly ArchiveRow[]): ArchiveSummary {
  const users = new Set<string>();
  const sessions = new Set<string>();
  let revenueRows = 0;
  let revenueCents = 0;
  let revenueSum = 0;
  let tsSum = 0n;
  let partitionSum = 0;
  let offsetSum = 0n;
  let textChars = 0;
  for (const row of rows) {
    users.add(row.user_id);
    sessions.add(row.session_id);
    if (row.revenue !== null) {
      revenueRows++;
      revenueCents += Math.round(row.revenue * 100);
      revenueSum += row.revenue;
    }
    tsSum += BigInt(row.ts);
    partitionSum += row.kafka_partition;
    offsetSum += BigInt(row.kafka_offset);
    textChars += row.user_id.length + row.session_id.length + row.url.length + row.country.length + row.device.length;
  }
  return {
    exact: {
      rows: String(rows.length),
      users: String(users.size),
      sessions: String(sessions.size),
      revenue_rows: String(revenueRows),
      revenue_cents: String(revenueCents),
      ts_sum: String(tsSum),
      partition_sum: String(partitionSum),
      offset_sum: String(offsetSum),
      text_chars: String(textChars),
    },
    revenueSum,
  };
}

/** Reads the files back with DuckDB (as the batch layer will) and lists every mismatch with the in-memory truth. */
async function checkArchive(reader: DuckDBConnection, dir: string, truth: ArchiveSummary): Promise<string[]> {
  const problems: string[] = [];
  const described = await reader.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlStringLiteral(join(dir, '*.parquet'))})`);
  const types = described.getRowObjectsJS().map((row) => `${String(row.column_name)} ${String(row.column_type)}`);
  const expectedTypes = COLUMN_NAMES.map((column, index) => `${column} ${EXPECTED_PARQUET_TYPES[index]}`);
  if (types.join(', ') !== expectedTypes.join(', ')) problems.push(`schema [${types.join(', ')}], expected [${expectedTypes.join(', ')}]`);
  const summary = (await reader.runAndReadAll(SUMMARY_SQL(dir))).getRowObjectsJS()[0]!;
  for (const [name, expected] of Object.entries(truth.exact)) {
    if (String(summary[name]) !== expected) problems.push(`${name} ${String(summary[name])}, expected ${expected}`);
  }
  const revenueSum = Number(summary.revenue_sum);
  if (!(Math.abs(revenueSum - truth.revenueSum) <= 1e-9 * Math.max(1, Math.abs(truth.revenueSum)))) {
    problems.push(`sum(revenue) ${revenueSum}, expected ${truth.revenueSum}`);
  }
  return problems;
}

function filesBytes(dir: string): number {
  return readdirSync(dir).reduce((total, file) => total + statSync(join(dir, file)).size, 0);
}

/**
 * Parquet writers for the master dataset: rows/s writing 50,000-row files of
 * decoded clickstream events (one file per flush per partition), bytes per row,
 * and a read-back check with DuckDB. A writer whose files fail the check is
 * reported (`_check_passed: 0`) but not ranked.
 */
export default defineBenchmark({
  name: 'parquet-writers',
  description: `Parquet writers for the master dataset: ${EVENTS.toLocaleString()} events as ${ROWS_PER_FILE.toLocaleString()}-row files`,
  async run({ progress }) {
    const generator = new ClickstreamGenerator({ seed: 1 });
    const events: ArchiveRow[] = [];
    for (let index = 0; index < EVENTS; index++) {
      const event = JSON.parse(generator.next(BASE_TIME_MS + index * 10).value) as Omit<ArchiveRow, 'kafka_partition' | 'kafka_offset'>;
      const partition = Math.floor(index / ROWS_PER_FILE);
      events.push({ ...event, kafka_partition: partition, kafka_offset: BASE_KAFKA_OFFSET + (index % ROWS_PER_FILE) });
    }
    const files: ArchiveRow[][] = [];
    for (let start = 0; start < EVENTS; start += ROWS_PER_FILE) files.push(events.slice(start, start + ROWS_PER_FILE));
    const truth = summarise(events);

    const root = join(tmpdir(), `braid-bench-parquet-${process.pid}-${Date.now().toString(36)}`);
    const outputDir = join(root, 'out');
    const scratchDir = join(root, 'scratch');
    mkdirSync(scratchDir, { recursive: true });
    const writerInstance = await DuckDBInstance.create(':memory:');
    const readerInstance = await DuckDBInstance.create(':memory:');
    const writer = await writerInstance.connect();
    const reader = await readerInstance.connect();
    try {
      const threads = (await writer.runAndReadAll("SELECT current_setting('threads')::INTEGER AS threads")).getRowObjectsJS()[0]!.threads;
      progress(`DuckDB ${(await writer.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0]!.v}, threads=${String(threads)}; files under ${root}`);
      const candidates: ParquetWriterCandidate[] = [
        parquetjsLite('SNAPPY', 'parquetjs_lite', 2),
        parquetjsLite('GZIP', 'parquetjs_lite_gzip', 1),
        await duckdbAppender(writer),
        await duckdbDataChunk(writer),
        duckdbTableFunction(writer),
        duckdbNdjson(writer, scratchDir),
        await duckdbPrepared(writer),
        arrowDuckdb(writer),
      ];

      const figures: Record<string, number> = {};
      const passedRates = new Map<string, number>();
      for (const candidate of candidates) {
        progress(`${candidate.key}: ${candidate.description}…`);
        let rowsPerS = 0;
        let problems: string[];
        try {
          rowsPerS = await bestRate(EVENTS, candidate.repeats, async () => {
            rmSync(outputDir, { recursive: true, force: true });
            mkdirSync(outputDir);
            for (const [index, rows] of files.entries()) await candidate.writeFile(join(outputDir, `part-${index}.parquet`), rows);
          });
          problems = await checkArchive(reader, outputDir, truth);
        } catch (error) {
          problems = [`threw: ${(error as Error).message}`];
        }
        const bytesPerRow = rowsPerS > 0 ? filesBytes(outputDir) / EVENTS : 0;
        figures[`${candidate.key}_rows_per_s`] = Math.round(rowsPerS);
        figures[`${candidate.key}_bytes_per_row`] = Math.round(bytesPerRow * 100) / 100;
        figures[`${candidate.key}_check_passed`] = problems.length === 0 ? 1 : 0;
        if (problems.length === 0) passedRates.set(candidate.key, rowsPerS);
        progress(
          `${candidate.key}: ${Math.round(rowsPerS).toLocaleString()} rows/s, ${bytesPerRow.toFixed(2)} bytes/row, ` +
            (problems.length === 0 ? 'read back by DuckDB: ok' : `FAILED: ${problems.join('; ')}`),
        );
      }

      const ranked = [...passedRates.entries()].sort((a, b) => b[1] - a[1]);
      const parquetjsRate = passedRates.get('parquetjs_lite') ?? 0;
      if (ranked.length > 0) progress(`fastest correct writer: ${ranked[0]![0]}`);
      figures.best_vs_parquetjs_ratio = parquetjsRate > 0 && ranked.length > 0 ? Math.round((ranked[0]![1] / parquetjsRate) * 100) / 100 : 0;
      return figures;
    } finally {
      reader.closeSync();
      writer.closeSync();
      readerInstance.closeSync();
      writerInstance.closeSync();
      rmSync(root, { recursive: true, force: true });
    }
  },
});
