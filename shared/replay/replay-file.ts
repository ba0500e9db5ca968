import type { ReplayFileFormat } from './replay-file-format.ts';
import type { ReplayRow } from './replay-row.ts';

/** A file of events opened for replay into a source: its rows, validated by the source, in file order. */
export interface ReplayFile {
  /** The path as given. */
  readonly file: string;
  readonly format: ReplayFileFormat;
  /** Rows in the file when known up front (Parquet); else undefined. */
  readonly totalRows: number | undefined;
  /** Nullable source fields the file has no column for: null in every event (CSV and Parquet). */
  readonly absentFields: readonly string[];
  /**
   * File columns the source lacks, which are not sent. CSV and Parquet know
   * them on opening; NDJSON learns keys while reading (up to 20 names).
   */
  ignoredColumns(): readonly string[];
  /** The rows; iterate once. Stopping early, or reaching the end, closes the file. */
  rows(): AsyncIterable<ReplayRow>;
  /** Closes the file if its rows were never read to the end. Idempotent. */
  close(): void;
}
