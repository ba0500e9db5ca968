import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisClient } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';

const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const LEASE_MS = 30_000;

/**
 * Runs `work` while holding the publish lock of a batch view or dataset, so two recomputes of one view (two
 * workflow runs, a backfill, `npx braid recompute`) never both plan from the same version: the second waits, then
 * plans from the version the first published. The lock is a Redis key with a lease renewed while `work` runs; a
 * holder that dies (a process killed, a task thread stopped at its timeout) stops renewing and loses it.
 */
export async function withPublishLock<T>(config: Config, name: string, work: () => Promise<T>): Promise<T> {
  const redis = createRedisClient(config.redis.url, { name: 'braid-batch-publish-lock' });
  const key = `${config.redis.keyPrefix}batch:publish-lock:${name}`;
  const token = randomBytes(8).toString('hex');
  try {
    while ((await redis.set(key, token, 'PX', LEASE_MS, 'NX')) !== 'OK') await sleep(200);
    const renew = setInterval(() => void redis.eval(RENEW, 1, key, token, LEASE_MS).catch(() => undefined), LEASE_MS / 3);
    try {
      return await work();
    } finally {
      clearInterval(renew);
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    }
  } finally {
    redis.disconnect();
  }
}
