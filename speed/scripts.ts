import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { FlushProgram } from './flush-program.ts';

const FLUSH_PARTITION = readFileSync(new URL('./lua/flush-partition.lua', import.meta.url), 'utf8');

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

export type FlushOutcome = { applied: true } | { applied: false; storedOffset: string | null };

type RedisWithFlush = Redis & {
  braidFlushPartition(numberOfKeys: number, ...args: string[]): Promise<number | [number, string]>;
};

/** Registers Braid's Lua scripts on a client (EVALSHA with EVAL fallback, via ioredis defineCommand). */
export function withSpeedScripts(redis: Redis): Redis {
  if (!('braidFlushPartition' in redis)) redis.defineCommand('braidFlushPartition', { lua: FLUSH_PARTITION });
  return redis;
}

/** Runs one partition flush; see flush-partition.lua for the contract. */
export async function runFlush(redis: Redis, header: FlushHeader, program: FlushProgram): Promise<FlushOutcome> {
  const client = withSpeedScripts(redis) as RedisWithFlush;
  const args = [
    ...program.keys,
    header.offsetField,
    header.expectedOffset ?? '',
    header.nextOffset,
    header.maxEventTimeField,
    header.maxEventTimeMs === null ? '' : String(header.maxEventTimeMs),
    header.seenField,
    header.seenAtMs === null ? '' : String(header.seenAtMs),
    ...program.ops,
  ];
  const result = await client.braidFlushPartition(program.keys.length, ...args);
  if (result === 1) return { applied: true };
  if (Array.isArray(result) && result[0] === FlushResult.OffsetMismatch) {
    return { applied: false, storedOffset: result[1] === '' ? null : result[1] };
  }
  throw new BraidError(ErrorCode.INTERNAL, `flush-partition returned ${JSON.stringify(result)}`);
}
