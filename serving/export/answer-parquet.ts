import {
  BIGINT,
  DOUBLE,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  LIST,
  STRUCT,
  structValue,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBType,
} from '@duckdb/node-api';
import { assertNever } from '../../shared/errors/index.ts';
import type { EntryShape, OutputScalar } from '../../shared/measures/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../../shared/sql/index.ts';
import type { View } from '../../shared/views/index.ts';
import type { ViewAnswer } from '../view-reader.ts';
import { answerColumns, type AnswerColumn, type ColumnEntry, type ColumnValue } from './answer-columns.ts';
import { freshnessHeaders } from './freshness-headers.ts';

const ENTRY_FIELD_TYPES: Record<OutputScalar, DuckDBType> = { string: VARCHAR, int: BIGINT, float: DOUBLE };

/** The DuckDB list type of an `entries` column. */
const entryList = (entry: EntryShape) => LIST(STRUCT(Object.fromEntries(entry.fields.map((field) => [field.name, ENTRY_FIELD_TYPES[field.type]]))));

/** An entry as the appender takes it: whole numbers as bigints. */
const entryStruct = (entry: EntryShape, value: ColumnEntry) =>
  structValue(Object.fromEntries(entry.fields.map((field) => [field.name, field.type === 'int' ? BigInt(value[field.name] as number) : value[field.name]!])));

/** The DuckDB type of a column: what Parquet stores and `read_parquet` gives back. */
function duckDbType({ type, entry }: AnswerColumn): string {
  switch (type) {
    case 'timestamp':
      // An instant: Parquet TIMESTAMP(isAdjustedToUTC=true) in microseconds, Arrow's Timestamp(ms, "UTC") in DuckDB's unit.
      return 'TIMESTAMPTZ';
    case 'string':
      return 'VARCHAR';
    case 'float':
      return 'DOUBLE';
    case 'int':
      return 'BIGINT';
    case 'bool':
      return 'BOOLEAN';
    case 'entries':
      return entryList(entry!).toString();
    default:
      return assertNever(type);
  }
}

function append(appender: DuckDBAppender, { type, entry }: AnswerColumn, value: ColumnValue): void {
  if (value === null) return appender.appendNull();
  switch (type) {
    case 'timestamp':
      return appender.appendTimestampTZ(new DuckDBTimestampTZValue(BigInt(Math.floor(value as number)) * 1000n));
    case 'string':
      return appender.appendVarchar(value as string);
    case 'float':
      return appender.appendDouble(value as number);
    case 'int':
      return appender.appendBigInt(BigInt(value as number));
    case 'bool':
      return appender.appendBoolean(value as boolean);
    case 'entries':
      return appender.appendList(
        (value as readonly ColumnEntry[]).map((item) => entryStruct(entry!, item)),
        entryList(entry!),
      );
    default:
      return assertNever(type);
  }
}

/**
 * Writes an answer to a Parquet file (zstd) with the columns and types of
 * {@link answerToArrow}, through an in-memory DuckDB: rows go into a typed
 * table by the appender and out with `COPY … TO (FORMAT parquet)`. The
 * answer's freshness ({@link freshnessHeaders}) is the file's key/value
 * metadata (`parquet_kv_metadata()` in DuckDB). An existing file is replaced.
 *
 * @example
 * await writeAnswerParquet(pageViews, answer, 'page_views.parquet');
 * // duckdb: SELECT * FROM read_parquet('page_views.parquet')
 */
export async function writeAnswerParquet(view: View, answer: ViewAnswer, file: string): Promise<void> {
  const columns = answerColumns(view);
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    await connection.run(
      `CREATE TEMP TABLE answer (${columns.map((column) => `${sqlIdentifier(column.name)} ${duckDbType(column)}${column.nullable ? '' : ' NOT NULL'}`).join(', ')})`,
    );
    const appender = await connection.createAppender('answer');
    for (const row of answer.rows) {
      for (const column of columns) append(appender, column, column.value(row));
      appender.endRow();
    }
    appender.closeSync();
    const metadata = Object.entries(freshnessHeaders(answer.meta)).map(([key, value]) => `${sqlIdentifier(key)}: ${sqlStringLiteral(value)}`);
    await connection.run(`COPY answer TO ${sqlStringLiteral(file)} (FORMAT parquet, COMPRESSION zstd, KV_METADATA {${metadata.join(', ')}})`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
