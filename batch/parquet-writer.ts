import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Source } from '../shared/sources/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import { archiveColumns, FIELDS_METADATA_KEY, fieldsMetadata, OFFSET_COLUMN, PARTITION_COLUMN } from './master-dataset.ts';

/** One archived row: the event's fields plus its Kafka coordinates. */
export type ArchiveRow = Record<string, unknown> & { _kafka_partition: number; _kafka_offset: number };

/** One event-time day's events as JSON lines (`DayLines`), for one Parquet file. */
export interface DayLinesFile {
  /** The Kafka partition of its events. */
  readonly partition: number;
  /** The Parquet file to write. */
  readonly file: string;
  /** The lines, as consecutive buffers of whole lines: the source's fields and `_kafka_offset`. */
  readonly lines: readonly Buffer[];
  /** Bytes of the longest line. */
  readonly longestLine: number;
  /** Holds the lines while DuckDB reads them; removed after. */
  readonly scratchFile: string;
}

export interface ParquetWriter {
  /** Writes `rows` to a new Parquet file at `file` (which must not be visible to readers yet). */
  write(file: string, rows: readonly ArchiveRow[]): Promise<void>;
  /** Writes each day's JSON lines as its own Parquet file, in one DuckDB call. */
  writeLines(days: readonly DayLinesFile[]): Promise<void>;
  close(): void;
}

/** Writes buffers one after the other into a new file. */
function writeLinesFile(file: string, buffers: readonly Buffer[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const buffer of buffers) {
      for (let written = 0; written < buffer.length; ) written += writeSync(fd, buffer, written);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes Parquet through an in-memory DuckDB, `COPY … TO (FORMAT parquet, COMPRESSION zstd)`, with the source's
 * field specs in the footer (`braid.fields`), so a later reader can tell whether the file still agrees with the
 * source. Rows reach DuckDB either as JSON lines DuckDB parses itself (`read_json`, the archiver's path: on
 * DuckDB's thread, not the consumer's; each line's event was validated by the source) or value by value through
 * the appender, into a table whose non-nullable columns are `NOT NULL`.
 *
 * @example
 * const writer = await createDuckDbParquetWriter(clickstream);
 * await writer.write('/data/master/clickstream/2026-01-01/part.parquet.tmp', rows);
 * writer.close();
 */
export async function createDuckDbParquetWriter(source: Source): Promise<ParquetWriter> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection: DuckDBConnection = await instance.connect();
  const columns = archiveColumns(source);
  const metadata = sqlStringLiteral(fieldsMetadata(source));
  const copyOptions = `(FORMAT parquet, COMPRESSION zstd, KV_METADATA {${sqlStringLiteral(FIELDS_METADATA_KEY)}: ${metadata}})`;
  const table = 'archive_rows';
  const createTable = `CREATE OR REPLACE TEMP TABLE ${table} (${columns
    .map((column) => `${sqlIdentifier(column.name)} ${column.type}${column.nullable ? '' : ' NOT NULL'}`)
    .join(', ')})`;
  const fieldNames = Object.keys(source.fields);
  // read_json's columns: the source's fields and the offset; the partition is one value per flush.
  const jsonColumns = `{${[...fieldNames.map((name) => `${sqlStringLiteral(name)}: ${sqlStringLiteral(columns.find((column) => column.name === name)!.type)}`), `${sqlStringLiteral(OFFSET_COLUMN)}: 'BIGINT'`].join(', ')}}`;
  const appenders = columns.map((column) => {
    switch (column.type) {
      case 'VARCHAR':
        return (appender: Appender, value: unknown) => appender.appendVarchar(String(value));
      case 'BIGINT':
        return (appender: Appender, value: unknown) => appender.appendBigInt(BigInt(value as number));
      case 'INTEGER':
        return (appender: Appender, value: unknown) => appender.appendInteger(value as number);
      case 'DOUBLE':
        return (appender: Appender, value: unknown) => appender.appendDouble(value as number);
      default:
        return (appender: Appender, value: unknown) => appender.appendBoolean(value as boolean);
    }
  });
  type Appender = Awaited<ReturnType<DuckDBConnection['createAppender']>>;

  return {
    async write(file, rows) {
      await connection.run(createTable);
      try {
        const appender = await connection.createAppender(table);
        for (const row of rows) {
          for (let index = 0; index < columns.length; index++) {
            const value = row[columns[index]!.name];
            if (value === null || value === undefined) appender.appendNull();
            else appenders[index]!(appender, value);
          }
          appender.endRow();
        }
        appender.closeSync();
        await connection.run(`COPY ${table} TO ${sqlStringLiteral(file)} ${copyOptions}`);
      } finally {
        await connection.run(`DROP TABLE IF EXISTS ${table}`);
      }
    },

    async writeLines(days) {
      if (days.length === 0) return;
      const select = (partition: number) => `SELECT ${fieldNames.map(sqlIdentifier).join(', ')}, ${partition}::INTEGER AS ${PARTITION_COLUMN}, ${OFFSET_COLUMN}`;
      try {
        // Written synchronously and read by one DuckDB call: each await waits for the consumer's current batch to
        // finish on the event loop, so a flush that awaited every day's steps would take as many batches as steps.
        for (const day of days) writeLinesFile(day.scratchFile, day.lines);
        await connection.run(
          days
            .map(
              (day) =>
                `COPY (${select(day.partition)} FROM read_json(${sqlStringLiteral(day.scratchFile)}, format = 'newline_delimited', columns = ${jsonColumns}, ` +
                `maximum_object_size = ${Math.max(16 << 20, day.longestLine + 1)})) TO ${sqlStringLiteral(day.file)} ${copyOptions}`,
            )
            .join(';\n'),
        );
      } finally {
        for (const day of days) rmSync(day.scratchFile, { force: true });
      }
    },

    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
