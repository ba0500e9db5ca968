import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Source } from '../sources/index.ts';
import { openNdjsonFile } from './read-ndjson-file.ts';
import { openTabularFile } from './read-tabular-file.ts';
import type { ReplayFile } from './replay-file.ts';
import { replayFileFormatOf, type ReplayFileFormat } from './replay-file-format.ts';

export interface OpenReplayFileOptions {
  /** Path of the file. */
  file: string;
  /** The source whose events the rows are. */
  source: Source;
  /** Default: by the file's extension (see `replayFileFormatOf`). */
  format?: ReplayFileFormat;
}

/** A missing or unreadable file as one clear BAD_ARGUMENT; else the file's size. */
async function readableSize(file: string): Promise<number> {
  try {
    const stats = await stat(file);
    if (!stats.isFile()) throw new BraidError(ErrorCode.BAD_ARGUMENT, `${file} is not a file`, { fields: { file } });
    await access(file, constants.R_OK);
    return stats.size;
  } catch (error) {
    if (error instanceof BraidError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `cannot read ${file}: ${why}`, { cause: error, fields: { file } });
  }
}

/**
 * Opens a file of a source's events for replay: NDJSON, CSV (header row) or
 * Parquet. Everything that makes the whole file unusable is an error here,
 * before a row is read: a missing or unreadable file, an empty CSV or Parquet
 * file, an unknown extension, a file DuckDB cannot read, a non-nullable field
 * without a column.
 * Problems of single rows come out as bad rows of `rows()`.
 *
 * @example
 * const replay = await openReplayFile({ file: 'events.csv', source: getSource('clickstream') });
 * for await (const row of replay.rows()) if (!row.ok) console.log(row.row, row.problem.reason);
 */
export async function openReplayFile(options: OpenReplayFileOptions): Promise<ReplayFile> {
  const size = await readableSize(options.file);
  const format = replayFileFormatOf(options.file, options.format);
  // An empty NDJSON file is zero rows; a CSV or Parquet file without even a header or schema is not one.
  if (size === 0 && format !== 'ndjson') throw new BraidError(ErrorCode.BAD_ARGUMENT, `${options.file} is empty`, { fields: { file: options.file } });
  switch (format) {
    case 'ndjson':
      return openNdjsonFile(options.file, options.source);
    case 'csv':
    case 'parquet':
      return openTabularFile(options.file, format, options.source);
    default: {
      const unknown: never = format;
      throw new BraidError(ErrorCode.INTERNAL, `unknown file format ${String(unknown)}`);
    }
  }
}
