import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Source } from '../sources/index.ts';
import { sqlStringLiteral } from '../sql/index.ts';
import { planColumns, type FileColumn } from './column-plan.ts';
import { mapFieldValue, type FileValue } from './map-field-value.ts';
import type { ReplayFile } from './replay-file.ts';
import { rowValidator, type ReplayRow } from './replay-row.ts';

/** The first line of a DuckDB error, without its "Invalid Input Error: " class. */
function duckDbMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.replace(/^[A-Za-z ]+ Error: /, '').trim();
}

interface SniffedCsv {
  readonly delimiter: string;
  readonly skipRows: number;
  readonly columns: readonly FileColumn[];
}

/**
 * How every CSV is read (and sniffed): RFC 4180 quoting, a header row, short rows padded with nulls and long
 * rows cut, so every line stays one row with its number (and a short line does not mislead the sniffer).
 */
const CSV_OPTIONS = "quote='\"', escape='\"', header=true, null_padding=true, strict_mode=false";

/**
 * Reads a CSV's layout with DuckDB's sniffer: delimiter, rows to skip, column names, and the date and
 * timestamp formats it recognised. Every column is then read as text and typed by the source's fields, so
 * a value that does not fit the sniffed type is one bad row, where DuckDB's typed read would stop the file.
 */
async function sniffCsv(connection: DuckDBConnection, file: string): Promise<SniffedCsv> {
  const reader = await connection.runAndReadAll(
    `SELECT Delimiter AS delimiter, SkipRows AS skip_rows, Columns AS columns, DateFormat AS date_format, TimestampFormat AS timestamp_format FROM sniff_csv(${sqlStringLiteral(file)}, ${CSV_OPTIONS})`,
  );
  const sniffed = reader.getRowObjectsJS()[0] as {
    delimiter: string;
    skip_rows: number | bigint;
    columns: Array<{ name: string; type: string }>;
    date_format: string | null;
    timestamp_format: string | null;
  };
  const formatOf = (type: string): string | undefined => {
    const upper = type.toUpperCase();
    if (upper === 'DATE') return sniffed.date_format ?? undefined;
    return upper.startsWith('TIMESTAMP') ? (sniffed.timestamp_format ?? undefined) : undefined;
  };
  return {
    delimiter: sniffed.delimiter,
    skipRows: Number(sniffed.skip_rows),
    columns: sniffed.columns.map((column) => {
      const timeFormat = formatOf(column.type);
      return timeFormat === undefined ? { name: column.name, type: 'VARCHAR' } : { name: column.name, type: 'VARCHAR', timeFormat };
    }),
  };
}

async function parquetColumns(connection: DuckDBConnection, relation: string): Promise<FileColumn[]> {
  const described = (await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`)).getRowObjectsJS() as Array<{ column_name: string; column_type: string }>;
  return described.map((column) => ({ name: column.column_name, type: column.column_type }));
}

/** A value as JSON text can carry it: big integers as their digits, so the dead-letter copy loses nothing. */
function jsonValue(value: FileValue): string | number | boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

/**
 * Opens a CSV (header row) or Parquet file with an in-memory DuckDB and
 * streams its rows chunk by chunk, so a file of any size is read in bounded
 * memory. Each row is typed by the source's fields (see `planColumns` and
 * `mapFieldValue`) and validated by the source.
 */
export async function openTabularFile(file: string, format: 'csv' | 'parquet', source: Source): Promise<ReplayFile> {
  const label = format === 'csv' ? 'CSV' : 'Parquet';
  const instance = await DuckDBInstance.create(':memory:');
  let connection: DuckDBConnection | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    connection?.closeSync();
    instance.closeSync();
  };

  let relation: string;
  let columns: readonly FileColumn[];
  let totalRows: number | undefined;
  try {
    connection = await instance.connect();
    // Text timestamps without an offset, and TIMESTAMPTZ arithmetic, are UTC whatever the machine's zone.
    await connection.run("SET TimeZone = 'UTC'");
    if (format === 'csv') {
      const sniffed = await sniffCsv(connection, file);
      relation = `read_csv(${sqlStringLiteral(file)}, all_varchar=true, ${CSV_OPTIONS}, delim=${sqlStringLiteral(sniffed.delimiter)}, skip=${sniffed.skipRows})`;
      columns = sniffed.columns;
    } else {
      relation = `read_parquet(${sqlStringLiteral(file)})`;
      columns = await parquetColumns(connection, relation);
      totalRows = Number((await connection.runAndReadAll(`SELECT count(*) FROM ${relation}`)).getRows()[0]![0]);
    }
  } catch (error) {
    close();
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `cannot read ${file} as ${label}: ${duckDbMessage(error)}`, { cause: error, fields: { file } });
  }

  let plan;
  try {
    plan = planColumns(source, columns, file);
  } catch (error) {
    close();
    throw error;
  }
  const fields = plan.fields;
  const offsets: number[] = [];
  const selects: string[] = [];
  for (const field of fields) {
    offsets.push(selects.length);
    selects.push(...field.selects);
  }
  const sql = `SELECT ${selects.length > 0 ? selects.join(', ') : '1'} FROM ${relation}`;

  const validated = rowValidator(source);
  const toRow = (values: readonly DuckDBValue[], row: number): ReplayRow => {
    const event: Record<string, unknown> = {};
    const raw: Record<string, string | number | boolean | null> = {};
    const reasons: string[] = [];
    const groups: string[] = [];
    for (let index = 0; index < fields.length; index++) {
      const field = fields[index]!;
      const offset = offsets[index]!;
      // The selects project every column to VARCHAR, BOOLEAN, an integer or DOUBLE (see planColumns).
      const value = values[offset] as FileValue;
      raw[field.field] = jsonValue(value);
      const mapped = mapFieldValue(field.field, field.type, value, field.selects.length > 1 ? (values[offset + 1] as FileValue) : undefined);
      if (mapped.ok) event[field.field] = mapped.value;
      else {
        reasons.push(mapped.reason);
        groups.push(mapped.group);
      }
    }
    const rawText = JSON.stringify(raw);
    if (reasons.length > 0) return { ok: false, row, problem: { reason: reasons.join('; '), group: groups.join('; ') }, raw: rawText };
    return validated(row, event, rawText);
  };

  let started = false;
  async function* rows(): AsyncGenerator<ReplayRow> {
    if (started) throw new BraidError(ErrorCode.INTERNAL, `${file}: rows are read once`);
    started = true;
    let row = 0;
    try {
      let result;
      try {
        result = await connection!.stream(sql);
      } catch (error) {
        throw new BraidError(ErrorCode.BAD_ARGUMENT, `cannot read ${file} as ${label}: ${duckDbMessage(error)}`, { cause: error, fields: { file } });
      }
      for (;;) {
        let chunk;
        try {
          chunk = await result.fetchChunk();
        } catch (error) {
          throw new BraidError(ErrorCode.BAD_ARGUMENT, `${file}: reading stopped after row ${row}: ${duckDbMessage(error)}`, { cause: error, fields: { file, row } });
        }
        if (!chunk || chunk.rowCount === 0) break;
        for (const values of chunk.getRows()) yield toRow(values, ++row);
      }
    } finally {
      close();
    }
  }

  return {
    file,
    format,
    totalRows,
    absentFields: plan.absentFields,
    ignoredColumns: () => plan.ignoredColumns,
    rows,
    close,
  };
}
