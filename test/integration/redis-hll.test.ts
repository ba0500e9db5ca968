import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { REDIS_HLL_REGISTER_COUNT, RedisHll } from '../../shared/measures/redis-hll.ts';
import { testRedis } from '../harness/index.ts';

// The JS sketch must be the sketch Redis keeps: same registers after the same
// elements, same PFCOUNT, and bytes each side reads as its own.

const SPARSE = 1;
const DENSE = 0;

function range(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

function sketchOf(values: Iterable<string>): RedisHll {
  const sketch = RedisHll.empty();
  for (const value of values) sketch.add(value);
  return sketch;
}

/** PFADD in chunks (one command per element would be slow; one for 50 000 is a huge frame). */
async function pfaddAll(redis: Redis, key: string, values: string[]): Promise<void> {
  if (values.length === 0) await redis.pfadd(key); // creates the empty sketch, as Redis allows
  for (let i = 0; i < values.length; i += 1000) await redis.pfadd(key, ...values.slice(i, i + 1000));
}

async function readSketch(redis: Redis, key: string): Promise<{ sketch: RedisHll; encoding: number }> {
  const bytes = await redis.getBuffer(key);
  if (bytes === null) throw new Error(`${key} does not exist`);
  return { sketch: RedisHll.fromRedisBytes(bytes), encoding: bytes[4]! };
}

describe('RedisHll against Redis', () => {
  const sizes = [0, 1, 10, 100, 1000, 5000, 50_000];

  it.each(sizes)('has the registers and count Redis has after PFADD of %d elements', async (n) => {
    await using redis = testRedis();
    const key = `${redis.prefix}pfadd-${n}`;
    const values = range(n, 'visitor-');
    await pfaddAll(redis, key, values);

    const { sketch: fromRedis, encoding } = await readSketch(redis, key);
    // Redis keeps small sketches sparse and promotes them past hll-sparse-max-bytes, so both decoders are
    // exercised. 1,000 elements need about 2,000 bytes sparse: dense under Braid's stack (1000), sparse under
    // Redis's default (3000); the test holds for either.
    if (n <= 100) expect(encoding).toBe(SPARSE);
    if (n >= 5_000) expect(encoding).toBe(DENSE);

    const ours = sketchOf(values);
    expect(Buffer.from(ours.registers()).equals(Buffer.from(fromRedis.registers()))).toBe(true);
    expect(ours.count()).toBe(await redis.pfcount(key));
    expect(fromRedis.count()).toBe(ours.count());
  });

  it.each(sizes)('writes %d elements as bytes Redis counts, and keeps adding to', async (n) => {
    await using redis = testRedis();
    const ours = sketchOf(range(n, 'js-'));

    const denseKey = `${redis.prefix}dense-${n}`;
    await redis.set(denseKey, ours.toRedisBytes());
    expect(await redis.pfcount(denseKey)).toBe(ours.count());

    // serialize() is a Redis encoding too (sparse while it fits): Redis must accept it.
    const serializedKey = `${redis.prefix}serialized-${n}`;
    await redis.set(serializedKey, Buffer.from(ours.serialize(), 'base64'));
    expect(await redis.pfcount(serializedKey)).toBe(ours.count());

    // Redis then updates what we wrote exactly as it would its own sketch.
    const more = range(300, 'more-');
    await pfaddAll(redis, denseKey, more);
    await pfaddAll(redis, serializedKey, more);
    const expected = sketchOf([...range(n, 'js-'), ...more]);
    for (const key of [denseKey, serializedKey]) {
      const { sketch } = await readSketch(redis, key);
      expect(sketch.registers()).toEqual(expected.registers());
      expect(await redis.pfcount(key)).toBe(expected.count());
    }
  });

  it.each([
    [100, 200],
    [3000, 40_000],
  ])('PFMERGE of a Redis-built sketch (%d) and a JS-built one (%d) equals the JS merge', async (redisCount, jsCount) => {
    await using redis = testRedis();
    // Overlapping ranges, so a sum of estimates would overcount.
    const redisValues = range(redisCount, 'shared-');
    const jsValues = range(jsCount, 'shared-').map((value, i) => (i % 2 === 0 ? value : `js-only-${i}`));
    const redisKey = `${redis.prefix}redis-built`;
    const jsKey = `${redis.prefix}js-built`;
    const mergedKey = `${redis.prefix}merged`;
    await pfaddAll(redis, redisKey, redisValues);
    const jsSketch = sketchOf(jsValues);
    await redis.set(jsKey, jsSketch.toRedisBytes());
    await redis.pfmerge(mergedKey, redisKey, jsKey);

    const merged = (await readSketch(redis, redisKey)).sketch;
    merged.merge(jsSketch);
    expect(merged.registers()).toEqual((await readSketch(redis, mergedKey)).sketch.registers());
    expect(merged.registers()).toEqual(sketchOf([...redisValues, ...jsValues]).registers());
    expect(await redis.pfcount(mergedKey)).toBe(merged.count());
    // PFCOUNT of several keys counts their union without storing it.
    expect(await redis.pfcount(redisKey, jsKey)).toBe(merged.count());
  });

  it('hashes unicode elements to the bytes Redis receives', async () => {
    await using redis = testRedis();
    const key = `${redis.prefix}unicode`;
    const values = [
      '',
      'é',
      'e\u0301',
      'naïve café',
      '日本語',
      'Ελληνικά',
      'עברית',
      '😀',
      '👩🏽‍💻',
      '🏳️‍🌈 flag',
      '\u0000nul inside',
      // A lone surrogate: ioredis (Buffer) and the sketch (TextEncoder) both send U+FFFD.
      '\ud800 lone',
      ...range(500, '用户-'),
      ...range(500, '🚀-'),
    ];
    await pfaddAll(redis, key, values);
    const ours = sketchOf(values);
    expect((await readSketch(redis, key)).sketch.registers()).toEqual(ours.registers());
    expect(await redis.pfcount(key)).toBe(ours.count());
  });

  it('counts registers Redis stores but never hashes into (52–63) as PFCOUNT does', async () => {
    await using redis = testRedis();
    // Every register value a dense string can hold, including those above the
    // hash's maximum of 51 that Redis's estimator treats specially.
    const registers = Uint8Array.from({ length: REDIS_HLL_REGISTER_COUNT }, (_, i) => (i * 7) % 64);
    const crafted = RedisHll.fromRegisters(registers);
    const key = `${redis.prefix}crafted`;
    await redis.set(key, crafted.toRedisBytes());
    expect(await redis.pfcount(key)).toBe(crafted.count());
    expect((await readSketch(redis, key)).sketch.registers()).toEqual(registers);
  });

  it('agrees with PFCOUNT across many random register sets', async () => {
    await using redis = testRedis();
    // Sketches of every density, so both branches of the estimator (σ for
    // empty registers, τ for saturated ones) are compared with Redis's libm.
    let state = 12_345;
    const next = (): number => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return state / 2 ** 32;
    };
    for (let trial = 0; trial < 40; trial++) {
      const fill = next();
      const registers = Uint8Array.from({ length: REDIS_HLL_REGISTER_COUNT }, () =>
        next() < fill ? 1 + Math.min(50, Math.floor(-Math.log2(next() || 1e-9) * (1 + trial / 4))) : 0,
      );
      const sketch = RedisHll.fromRegisters(registers);
      const key = `${redis.prefix}random-${trial}`;
      await redis.set(key, sketch.toRedisBytes());
      expect(await redis.pfcount(key), `trial ${trial}`).toBe(sketch.count());
    }
  });
});
