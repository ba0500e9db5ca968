import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, type Redis } from 'ioredis';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';

const FLUSH_PARTITION = readFileSync(new URL('./lua/flush-partition.lua', import.meta.url), 'utf8');
const FLUSH_PARTITION_SHA = createHash('sha1').update(FLUSH_PARTITION).digest('hex');

/** Negative results of flush-partition.lua. */
export enum FlushResult {
  OffsetMismatch = -1,
}

export interface FlushHeader {
  offsetField: string;
  expectedOffset: string | null;
  nextOffset: string;
  maxEventTimeField: string;
  maxEventTimeMs: number | null;
  seenField: string;
  /** Wall clock when the flush carried events; null when it carried none. */
  seenAtMs: number | null;
}

/** A flush's ops, packed: the keys they name (KEYS) and the op strings as one MessagePack array ({@link packStrings}). */
export interface PackedFlush {
  readonly keys: readonly string[];
  readonly ops: Buffer;
}

export type FlushOutcome = { applied: true } | { applied: false; storedOffset: string | null };

/**
 * Runs one script with its arguments passed as an array: a flush names
 * thousands of keys, more than a JavaScript call should spread.
 * EVALSHA first; EVAL (which also caches the script) when Redis has not seen it.
 */
async function evalScript(redis: Redis, sha: string, script: string, numberOfKeys: number, args: Array<string | Buffer>): Promise<unknown> {
  try {
    return await redis.sendCommand(new Command('evalsha', [sha, String(numberOfKeys), ...args], { replyEncoding: 'utf8' }));
  } catch (error) {
    if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
    return redis.sendCommand(new Command('eval', [script, String(numberOfKeys), ...args], { replyEncoding: 'utf8' }));
  }
}

/** The longest string MessagePack's one-byte-header form (fixstr) holds, in bytes. */
const FIXSTR_MAX = 31;

/**
 * Packs strings as one MessagePack array (what Redis's Lua `cmsgpack.unpack`
 * reads back as a table of strings), so a flush of a million op strings is one
 * script argument: ioredis then encodes one buffer instead of a million
 * arguments, which had been a tenth of the speed worker's time. Every string
 * is written as UTF-8 exactly as Buffer (and so ioredis) writes it — lone
 * surrogates become U+FFFD — so PFADD sees the very bytes it saw before and
 * the batch layer's HyperLogLog still matches. (msgpackr writes short strings'
 * lone surrogates as raw surrogate bytes, hence this small encoder.)
 *
 * @example
 * await redis.eval("return cmsgpack.unpack(ARGV[1])", 0, packStrings(['a', 'b'])); // ['a', 'b']
 */
export function packStrings(strings: readonly string[]): Buffer {
  let buffer = Buffer.allocUnsafe(Math.max(1_024, strings.length * 16));
  let at = 0;
  const room = (bytes: number) => {
    if (at + bytes <= buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, at + bytes));
    buffer.copy(bigger, 0, 0, at);
    buffer = bigger;
  };
  buffer[at] = 0xdd; // array 32
  buffer.writeUInt32BE(strings.length, at + 1);
  at += 5;
  next: for (const text of strings) {
    const length = text.length;
    room(5 + length * 3);
    if (length <= FIXSTR_MAX) {
      // Short ASCII (opcodes, key indexes, numbers, most fields): copied by hand, one header byte.
      for (let index = 0; index < length; index++) {
        const code = text.charCodeAt(index);
        if (code >= 0x80) {
          at += writeStr32(buffer, at, text);
          continue next;
        }
        buffer[at + 1 + index] = code;
      }
      buffer[at] = 0xa0 | length; // fixstr
      at += 1 + length;
      continue;
    }
    at += writeStr32(buffer, at, text);
  }
  return buffer.subarray(0, at);
}

/** `text` as a str 32 at `at` (UTF-8 as Buffer writes it); returns the bytes used. */
function writeStr32(buffer: Buffer, at: number, text: string): number {
  const written = buffer.write(text, at + 5, 'utf8');
  buffer[at] = 0xdb;
  buffer.writeUInt32BE(written, at + 1);
  return 5 + written;
}

/** Runs one partition flush; see flush-partition.lua for the contract. */
export async function runFlush(redis: Redis, header: FlushHeader, flush: PackedFlush): Promise<FlushOutcome> {
  const args = [
    ...flush.keys,
    header.offsetField,
    header.expectedOffset ?? '',
    header.nextOffset,
    header.maxEventTimeField,
    header.maxEventTimeMs === null ? '' : String(header.maxEventTimeMs),
    header.seenField,
    header.seenAtMs === null ? '' : String(header.seenAtMs),
    flush.ops,
  ];
  const result = (await evalScript(redis, FLUSH_PARTITION_SHA, FLUSH_PARTITION, flush.keys.length, args)) as number | [number, string];
  if (result === 1) return { applied: true };
  if (Array.isArray(result) && Number(result[0]) === FlushResult.OffsetMismatch) {
    return { applied: false, storedOffset: result[1] === '' ? null : result[1] };
  }
  throw new BraidError(ErrorCode.INTERNAL, `flush-partition returned ${JSON.stringify(result)}`);
}
