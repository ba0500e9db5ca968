import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Source } from '../shared/sources/index.ts';
import { archiveColumns, FIELDS_METADATA_KEY, fieldsMetadata } from './master-dataset.ts';
import { sqlIdentifier, sqlLiteral } from './sql.ts';

/** One archived row: the event's fields plus its Kafka coordinates. */
export type ArchiveRow = Record<string, unknown> & { _kafka_partition: number; _kafka_offset: number };

export interface ParquetWriter {
  /** Writes `rows` to a new Parquet file at `file` (which must not be visible to readers yet). */
  write(file: string, rows: readonly ArchiveRow[]): Promise<void>;
  close(): void;
}


/**
 * Writes Parquet through an in-memory DuckDB: rows go in through the
 * appender, out with `COPY … TO (FORMAT parquet, COMPRESSION zstd)`, the
 * source's field specs in the footer (`braid.fields`), so a later reader can
 * tell whether the file still agrees with the source.
 * (Chosen by `npm run bench -- parquet-writers`; docs/batch-layer.md has the figures.)
 */
export async function createDuckDbParquetWriter(source: Source): Promise<ParquetWriter> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection: DuckDBConnection = await instance.connect();
  const columns = archiveColumns(source);
  const metadata = sqlLiteral(fieldsMetadata(source));
  const table = 'archive_buffer';
  const createTable = `CREATE OR REPLACE TEMP TABLE ${table} (${columns
    .map((column) => `${sqlIdentifier(column.name)} ${column.type}${column.nullable ? '' : ' NOT NULL'}`)
    .join(', ')})`;
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
      await connection.run(`COPY ${table} TO ${sqlLiteral(file)} (FORMAT parquet, COMPRESSION zstd, KV_METADATA {${sqlLiteral(FIELDS_METADATA_KEY)}: ${metadata}})`);
      await connection.run(`DROP TABLE ${table}`);
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
