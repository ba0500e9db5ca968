import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, type Redis } from 'ioredis';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';

const FLUSH_PARTITIONS = readFileSync(new URL('./lua/flush-partitions.lua', import.meta.url), 'utf8');
const FLUSH_PARTITIONS_SHA = createHash('sha1').update(FLUSH_PARTITIONS).digest('hex');

/** Negative results of flush-partitions.lua. */
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

/** A partition whose stored offset was not the one its flush expected: `index` is its position among the flush's headers. */
export interface RefusedPartition {
  readonly index: number;
  readonly storedOffset: string | null;
}

export type FlushOutcome = { applied: true } | { applied: false; refused: readonly RefusedPartition[] };

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

/**
 * Runs one flush of one or more partitions (one header each, the ops of all of
 * them in `flush`): all applied, or, if any partition's stored offset is not
 * the one its header expects, none. See flush-partitions.lua for the contract.
 */
export async function runFlush(redis: Redis, headers: readonly FlushHeader[], flush: PackedFlush): Promise<FlushOutcome> {
  if (headers.length === 0) throw new BraidError(ErrorCode.INTERNAL, 'a flush needs at least one partition header');
  const args: Array<string | Buffer> = [...flush.keys, String(headers.length)];
  for (const header of headers) {
    args.push(
      header.offsetField,
      header.expectedOffset ?? '',
      header.nextOffset,
      header.maxEventTimeField,
      header.maxEventTimeMs === null ? '' : String(header.maxEventTimeMs),
      header.seenField,
      header.seenAtMs === null ? '' : String(header.seenAtMs),
    );
  }
  args.push(flush.ops);
  const result = (await evalScript(redis, FLUSH_PARTITIONS_SHA, FLUSH_PARTITIONS, flush.keys.length, args)) as number | Array<number | string>;
  if (result === 1) return { applied: true };
  if (Array.isArray(result) && Number(result[0]) === FlushResult.OffsetMismatch && result.length % 2 === 1) {
    const refused: RefusedPartition[] = [];
    for (let at = 1; at < result.length; at += 2) {
      const stored = String(result[at + 1]);
      refused.push({ index: Number(result[at]) - 1, storedOffset: stored === '' ? null : stored });
    }
    return { applied: false, refused };
  }
  throw new BraidError(ErrorCode.INTERNAL, `flush-partitions returned ${JSON.stringify(result)}`);
}
