import { describe, expect, it } from 'vitest';
import { count } from '../../shared/measures/index.ts';
import { defineView, tumbling } from '../../shared/views/index.ts';
import { handOverToBatch, readBatchPublished, SpeedKeys } from '../../shared/speed-contract/index.ts';
import { testRedis } from '../harness/index.ts';

describe('the expiry handshake with windows in a time zone', () => {
  it('hands over the New York days that end by the cutoff, the 23-hour one included, and keeps the day after', async () => {
    await using redis = testRedis();
    const keys = new SpeedKeys(redis.prefix);
    const view = defineView({ name: 'ny_days', source: 'clickstream', groupBy: ['country'], window: tumbling('1d', { timeZone: 'America/New_York' }), measures: { views: count() } });
    // 7, 8 (23 hours: clocks go forward) and 9 March 2026, New York time.
    const [seventh, eighth, ninth] = ['2026-03-07T05:00:00Z', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'].map(Date.parse) as [number, number, number];
    for (const start of [seventh, eighth, ninth]) {
      await redis.zadd(keys.windows(view.name), start, String(start));
      await redis.hset(keys.window(view.name, start), 'US\x1f#', '1');
    }
    // The cutoff is where the 8th ends: 23 hours after it began, an hour before a 24-hour day would end.
    const handed = await handOverToBatch(redis, keys, view, { version: 1, cutoffMs: ninth }, 60_000);
    expect(handed).toBe(2);
    expect(await readBatchPublished(redis, keys, view)).toEqual({ version: 1, cutoffMs: ninth });
    expect((await redis.zrange(keys.windows(view.name), '0', '-1')).map(Number)).toEqual([ninth]);
    for (const start of [seventh, eighth]) {
      const ttl = await redis.pttl(keys.window(view.name, start));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    expect(await redis.pttl(keys.window(view.name, ninth))).toBe(-1);
  });
});
