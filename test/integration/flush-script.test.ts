import { describe, expect, it } from 'vitest';
import { FlushProgram } from '../../speed/flush-program.ts';
import { SpeedKeys } from '../../speed/redis-keys.ts';
import { packStrings, runFlush, type FlushHeader } from '../../speed/scripts.ts';
import { testRedis } from '../harness/index.ts';

function header(expectedOffset: string | null, nextOffset: string): FlushHeader {
  return {
    offsetField: SpeedKeys.offsetField('t', 0),
    expectedOffset,
    nextOffset,
    maxEventTimeField: SpeedKeys.maxEventTimeField('t', 0),
    maxEventTimeMs: 1000,
    seenField: SpeedKeys.seenField('t', 0),
    seenAtMs: 2000,
  };
}

describe('flush-partition.lua (real Redis)', () => {
  it('applies deltas and the offset together, and refuses a flush whose expected offset is stale (compare and set)', async () => {
    await using redis = testRedis();
    const keys = new SpeedKeys(redis.prefix);
    const state = keys.partitions('g');
    const program = () => {
      const p = new FlushProgram(state);
      p.incrBy(`${redis.prefix}h`, 'a', 2);
      p.incrByFloat(`${redis.prefix}h`, 'f', 0.5);
      p.keepMax(`${redis.prefix}h`, 'm', 7);
      p.pfAdd(`${redis.prefix}hll`, ['x', 'y', 'x']);
      return p;
    };
    expect(await runFlush(redis, header(null, '10'), program().pack())).toEqual({ applied: true });
    expect(await redis.hgetall(`${redis.prefix}h`)).toEqual({ a: '2', f: '0.5', m: '7' });
    expect(await redis.hget(state, 'o:t:0')).toBe('10');
    expect(await redis.pfcount(`${redis.prefix}hll`)).toBe(2);

    // A replay of the same range (expected offset null again) changes nothing and says what is stored.
    expect(await runFlush(redis, header(null, '10'), program().pack())).toEqual({ applied: false, storedOffset: '10' });
    expect(await runFlush(redis, header('5', '20'), program().pack())).toEqual({ applied: false, storedOffset: '10' });
    expect(await redis.hgetall(`${redis.prefix}h`)).toEqual({ a: '2', f: '0.5', m: '7' });

    expect(await runFlush(redis, header('10', '20'), program().pack())).toEqual({ applied: true });
    expect(await redis.hgetall(`${redis.prefix}h`)).toEqual({ a: '4', f: '1', m: '7' });
  });

  it('runs of ops on one key (one HMGET + HSET, or one variadic command each) give what the ops one by one give', async () => {
    await using redis = testRedis();
    const h = `${redis.prefix}runs`;
    await redis.hset(h, 'n', '5', 'x', '0.1', 'lo', '3', 'hi', '3');
    const program = new FlushProgram(new SpeedKeys(redis.prefix).partitions('g'));
    // More fields than one chunk of the script's runs (500), and a field twice in one run.
    for (let i = 0; i < 1_200; i++) program.incrBy(h, `c${i}`, i);
    program.incrBy(h, 'n', 2);
    program.incrBy(h, 'n', 3);
    program.incrByFloat(h, 'x', 0.2);
    program.keepMin(h, 'lo', 4);
    program.keepMin(h, 'lo', 1);
    program.keepMax(h, 'hi', 2);
    program.keepMax(h, 'new', -7.25);
    for (let i = 0; i < 1_100; i++) program.hSet(`${redis.prefix}set`, `s${i}`, `v${i}`);
    program.hSet(`${redis.prefix}set`, 's0', 'last wins');
    for (let i = 0; i < 1_100; i++) program.zAdd(`${redis.prefix}z`, i, `m${i}`);
    program.zRem(`${redis.prefix}z`, 'm1');
    program.zRem(`${redis.prefix}z`, 'm2');
    program.hDel(`${redis.prefix}set`, 's1');
    expect(await runFlush(redis, header(null, '1'), program.pack())).toEqual({ applied: true });

    const stored = await redis.hgetall(h);
    expect(stored.n).toBe('10');
    expect(stored.c1199).toBe('1199');
    expect(Object.keys(stored).filter((field) => field.startsWith('c'))).toHaveLength(1_200);
    // Sums are added as doubles and written so they read back as the very double (0.1 + 0.2 in JS).
    expect(Number(stored.x)).toBe(0.1 + 0.2);
    expect(stored).toMatchObject({ lo: '1', hi: '3', new: '-7.25' });
    expect(await redis.hget(`${redis.prefix}set`, 's0')).toBe('last wins');
    expect(await redis.hget(`${redis.prefix}set`, 's1')).toBeNull();
    expect(await redis.hlen(`${redis.prefix}set`)).toBe(1_099);
    expect(await redis.zcard(`${redis.prefix}z`)).toBe(1_098);
    expect(await redis.zscore(`${redis.prefix}z`, 'm1099')).toBe('1099');
  });

  it('regression: a flush of 300,000 arguments is one atomic call (spreading them into a JS call overflowed the stack)', async () => {
    await using redis = testRedis();
    const program = new FlushProgram(new SpeedKeys(redis.prefix).partitions('g'));
    for (let i = 0; i < 75_000; i++) program.hSet(`${redis.prefix}big`, `field-${i}`, String(i));
    expect(program.ops.length).toBe(300_000);
    expect(await runFlush(redis, header(null, '1'), program.pack())).toEqual({ applied: true });
    expect(await redis.hlen(`${redis.prefix}big`)).toBe(75_000);
  });

  it('packs op strings so Redis unpacks exactly the bytes Buffer would have sent, lone surrogates included', async () => {
    await using redis = testRedis();
    const strings = ['', 'I', '42', 'a'.repeat(31), 'b'.repeat(32), 'c'.repeat(70_000), 'ünï', '日本', '😀', 'lone \uD800 high', '\uDC00', 'x\u0000y', '-1.5e-7'];
    const echoed = (await redis.callBuffer('EVAL', 'return cmsgpack.unpack(ARGV[1])', 0, packStrings(strings))) as Buffer[];
    expect(echoed.map((bytes) => bytes.toString('hex'))).toEqual(strings.map((text) => Buffer.from(text, 'utf8').toString('hex')));
    expect(await redis.eval('return #cmsgpack.unpack(ARGV[1])', 0, packStrings([]))).toBe(0);
  });

  it('rejects an unknown opcode before writing anything', async () => {
    await using redis = testRedis();
    const program = new FlushProgram(new SpeedKeys(redis.prefix).partitions('g'));
    program.incrBy(`${redis.prefix}h`, 'a', 1);
    program.ops.push('?', '1');
    await expect(runFlush(redis, header(null, '1'), program.pack())).rejects.toThrow(/unknown opcode/);
    expect(await redis.exists(`${redis.prefix}h`)).toBe(0);
    expect(await redis.hget(new SpeedKeys(redis.prefix).partitions('g'), 'o:t:0')).toBeNull();
  });
});
