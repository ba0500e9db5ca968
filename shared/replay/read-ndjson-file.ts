import { createReadStream, type ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Source } from '../sources/index.ts';
import type { ReplayFile } from './replay-file.ts';
import { rowValidator, type ReplayRow } from './replay-row.ts';

/** Ignored keys named at most: a file with a key per event (ids as keys) would otherwise grow the list without end. */
const MAX_IGNORED_NAMES = 20;

/** The first character that is not white space in the first 64 KiB, or undefined. */
async function firstCharacter(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return /[^\s\uFEFF]/.exec(buffer.toString('utf8', 0, bytesRead))?.[0];
  } finally {
    await handle.close();
  }
}

/** One NDJSON line as a row: a keyed event, or a bad row (malformed JSON, not an object, or what the source rejects). */
function lineRow(source: Source, validated: ReturnType<typeof rowValidator>, line: string, row: number, ignored: Set<string>): ReplayRow {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ok: false, row, problem: { reason: `malformed JSON: ${(error as Error).message}`, group: 'malformed JSON' }, raw: line };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, row, problem: { reason: 'not a JSON object', group: 'not a JSON object' }, raw: line };
  }
  if (ignored.size < MAX_IGNORED_NAMES) {
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(source.fields, key) && ignored.size < MAX_IGNORED_NAMES) ignored.add(key);
    }
  }
  return validated(row, value as Record<string, unknown>, line);
}

/**
 * Opens an NDJSON file (one JSON object per line) and reads it line by line
 * with node:readline, in bounded memory. Numbers are as JSON has them;
 * ISO-8601 text for timestamps is the source's to accept. Blank lines are
 * skipped; row numbers are line numbers. A field missing from a line is that
 * line's problem (or null, where the field is nullable).
 */
export async function openNdjsonFile(file: string, source: Source): Promise<ReplayFile> {
  if ((await firstCharacter(file)) === '[') {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `${file} holds a JSON array; replay reads one JSON object per line (NDJSON)`, {
      fields: { file },
      hint: `turn it into lines first, e.g. jq -c '.[]' ${file} > events.ndjson`,
    });
  }
  const ignored = new Set<string>();
  const validated = rowValidator(source);
  let stream: ReadStream | undefined;
  let closed = false;
  const close = () => {
    closed = true;
    stream?.destroy();
  };
  let started = false;

  async function* rows(): AsyncGenerator<ReplayRow> {
    if (started) throw new BraidError(ErrorCode.INTERNAL, `${file}: rows are read once`);
    started = true;
    if (closed) return;
    stream = createReadStream(file, { encoding: 'utf8' });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let row = 0;
    try {
      for await (const line of lines) {
        row++;
        const text = row === 1 ? line.replace(/^\uFEFF/, '') : line;
        if (text.trim() === '') continue;
        yield lineRow(source, validated, text, row, ignored);
      }
    } catch (error) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `${file}: reading stopped after line ${row}: ${(error as Error).message}`, { cause: error, fields: { file, row } });
    } finally {
      lines.close();
      close();
    }
  }

  return {
    file,
    format: 'ndjson',
    totalRows: undefined,
    absentFields: [],
    ignoredColumns: () => [...ignored],
    rows,
    close,
  };
}
