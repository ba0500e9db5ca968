import type { Redis } from 'ioredis';
import { timeGrid } from '../time/index.ts';
import { isCalendarWindow, windowEndFor, windowSizeMs, windowStartGranularity, type View } from '../views/index.ts';
import { SpeedKeys } from './speed-keys.ts';

/** How long speed windows the batch layer now covers stay readable (requests pinned to the previous version). */
export const EXPIRY_GRACE_MS = 10 * 60_000;

export interface BatchPublished {
  readonly version: number;
  readonly cutoffMs: number;
}

/** The latest batch publish of a view, as recorded in Redis; null before the first. */
export async function readBatchPublished(redis: Redis, keys: SpeedKeys, view: View): Promise<BatchPublished | null> {
  const fields = await redis.hgetall(keys.batchPublished(view.name));
  if (fields.version === undefined || fields.cutoffMs === undefined) return null;
  return { version: Number(fields.version), cutoffMs: Number(fields.cutoffMs) };
}

/**
 * The expiry handshake, run by the batch layer after a publish: records the
 * new version and cutoff (never moving the cutoff back), and lets the speed
 * windows that end at or before it expire after a grace period — the batch
 * view is authoritative for them now. Session state keeps its retention TTL:
 * a session can outlive any one cutoff. Returns how many windows were handed over.
 */
export async function handOverToBatch(redis: Redis, keys: SpeedKeys, view: View, published: BatchPublished, graceMs = EXPIRY_GRACE_MS): Promise<number> {
  const key = keys.batchPublished(view.name);
  const previous = await readBatchPublished(redis, keys, view);
  if (previous && previous.cutoffMs > published.cutoffMs) return 0;
  await redis.hset(key, { version: String(published.version), cutoffMs: String(published.cutoffMs) });
  const startGrid = windowStartGranularity(view.window);
  if (startGrid === undefined) return 0;
  // Windows that may end by the cutoff start at least the shortest window before it; of those, the ones that do
  // (all of them for fixed sizes; a calendar window's end depends on its start) are a prefix, as ends grow with starts.
  const shortestMs = isCalendarWindow(view.window) ? timeGrid(startGrid).shortestMs : windowSizeMs(view.window);
  const candidates = (await redis.zrangebyscore(keys.windows(view.name), '-inf', String(published.cutoffMs - shortestMs))).map(Number);
  const starts = candidates.filter((start) => windowEndFor(view.window, start) <= published.cutoffMs);
  for (const start of starts) {
    const pattern = `${keys.window(view.name, start)}*`;
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      if (found.length > 0) {
        const pipeline = redis.pipeline();
        for (const name of found) {
          // Only the window's own keys (its hash and its sketches), not a window whose start merely shares the prefix.
          if (name === keys.window(view.name, start) || name.startsWith(`${keys.window(view.name, start)}:`)) pipeline.pexpire(name, graceMs);
        }
        await pipeline.exec();
      }
    } while (cursor !== '0');
  }
  if (starts.length > 0) await redis.zremrangebyscore(keys.windows(view.name), '-inf', String(starts[starts.length - 1]));
  return starts.length;
}
