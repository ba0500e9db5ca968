import path from 'node:path';
import { BraidError, ErrorCode } from '../errors/index.ts';

/** File formats a replay reads: one JSON object per line, CSV with a header row, or Parquet. */
export const REPLAY_FILE_FORMATS = ['ndjson', 'csv', 'parquet'] as const;
export type ReplayFileFormat = (typeof REPLAY_FILE_FORMATS)[number];

const BY_EXTENSION: Readonly<Record<string, ReplayFileFormat>> = {
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'ndjson',
  '.csv': 'csv',
  '.parquet': 'parquet',
};

/**
 * A file's format: `explicit` when given, else by extension (`.ndjson`, `.jsonl`, `.json` → ndjson; `.csv`;
 * `.parquet`). An unknown extension is a BAD_ARGUMENT naming the file.
 *
 * @example replayFileFormatOf('events.jsonl') // 'ndjson'
 */
export function replayFileFormatOf(file: string, explicit?: ReplayFileFormat): ReplayFileFormat {
  if (explicit) return explicit;
  const extension = path.extname(file).toLowerCase();
  const format = BY_EXTENSION[extension];
  if (!format) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `${file}: cannot tell the format from ${extension ? `the extension ${extension}` : 'a name without an extension'}`, {
      fields: { file },
      hint: `name it .ndjson, .jsonl, .json, .csv or .parquet, or say --file-format ${REPLAY_FILE_FORMATS.join('|')}`,
    });
  }
  return format;
}
