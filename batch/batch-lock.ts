import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';

const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const LEASE_MS = 30_000;

/** Given to the work under a lock: throws if the lock was lost (its lease lapsed), so nothing is published then. */
export type StillHeld = () => Promise<void>;

/**
 * Runs `work` while holding the lock `name` (a view's or dataset's publish, a source's compaction), so two of them
 * (two workflow runs, a backfill, `npx braid recompute` or `compact`) never run at once: a recompute never plans
 * from a version another is replacing, a compaction never removes another's files. The lock is a Redis key with a
 * lease renewed while `work` runs; a holder that dies (a process killed, a task thread stopped at its timeout) stops
 * renewing and loses it. `work` calls `stillHeld()` just before it publishes. `onWait` hears once that another
 * holds the lock.
 */
export async function withLock<T>(config: Config, name: string, work: (stillHeld: StillHeld) => Promise<T>, onWait?: (holder: string) => void): Promise<T> {
  const redis = await connectRedis(config.redis, { name: 'braid-batch-lock' });
  const key = `${config.redis.keyPrefix}batch:lock:${name}`;
  const token = `${process.pid}:${randomBytes(6).toString('hex')}`;
  let lost = false;
  try {
    let told = false;
    while ((await redis.set(key, token, 'PX', LEASE_MS, 'NX')) !== 'OK') {
      if (!told) onWait?.((await redis.get(key)) ?? 'another process');
      told = true;
      await sleep(200);
    }
    const renew = setInterval(() => {
      redis.eval(RENEW, 1, key, token, LEASE_MS).then(
        (renewed) => (lost ||= Number(renewed) !== 1),
        () => undefined,
      );
    }, LEASE_MS / 3);
    const stillHeld: StillHeld = async () => {
      if (lost || (await redis.get(key)) !== token) {
        lost = true;
        throw new BraidError(ErrorCode.INTERNAL, `lost the lock ${name} (its lease lapsed): nothing was published`, { hint: 'run it again' });
      }
    };
    try {
      return await work(stillHeld);
    } finally {
      clearInterval(renew);
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    }
  } finally {
    redis.disconnect();
  }
}
