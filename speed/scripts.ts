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

/** A flush's ops, packed: the keys they name (KEYS) and the runs of ops as one MessagePack array (flush-program.ts). */
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
