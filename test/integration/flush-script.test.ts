import { describe, expect, it } from 'vitest';
import { FlushProgram } from '../../speed/flush-program.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { pack, unpack } from 'msgpackr';
import { MsgpackWriter } from '../../speed/msgpack-writer.ts';
import { runFlush, type FlushHeader } from '../../speed/scripts.ts';
import { testRedis } from '../harness/index.ts';

function header(expectedOffset: string | null, nextOffset: string, partition = 0): FlushHeader {
  return {
    offsetField: SpeedKeys.offsetField('t', partition),
    expectedOffset,
    nextOffset,
    maxEventTimeField: SpeedKeys.maxEventTimeField('t', partition),
    maxEventTimeMs: 1000 + partition,
    seenField: SpeedKeys.seenField('t', partition),
    seenAtMs: 2000,
  };
}

/** Binary, and not UTF-8: every byte value, then a lone continuation byte. */
const sketchBytes = Buffer.from([...Array.from({ length: 256 }, (_, byte) => byte), 0x80]);

describe('flush-partitions.lua (real Redis)', () => {
  it('applies deltas and the offset together, and refuses a flush whose expected offset is stale (compare and set)', async () => {
    await using redis = testRedis();
    const keys = new SpeedKeys(redis.prefix);
    const state = keys.partitions('g');
    const program = () => {
      const p = new FlushProgram(state);
      p.incrBy(`${redis.prefix}h`, 'a', 2);
      p.incrByFloat(`${redis.prefix}h`, 'f', 0.5);
      p.keepMax(`${redis.prefix}h`, 'm', 7);
      p.hSetBytes(`${redis.prefix}sketches`, 't:0\x1fa', sketchBytes);
      return p;
    };
    expect(await runFlush(redis, [header(null, '10')], program().pack())).toEqual({ applied: true });
    expect(await redis.hgetall(`${redis.prefix}h`)).toEqual({ a: '2', f: '0.5', m: '7' });
    expect(await redis.hget(state, 'o:t:0')).toBe('10');
    expect(await redis.hgetBuffer(`${redis.prefix}sketches`, 't:0\x1fa')).toEqual(sketchBytes);

    // A replay of the same range (expected offset null again) changes nothing and says what is stored.
    expect(await runFlush(redis, [header(null, '10')], program().pack())).toEqual({ applied: false, refused: [{ index: 0, storedOffset: '10' }] });
    expect(await runFlush(redis, [header('5', '20')], program().pack())).toEqual({ applied: false, refused: [{ index: 0, storedOffset: '10' }] });
    expect(await redis.hgetall(`${redis.prefix}h`)).toEqual({ a: '2', f: '0.5', m: '7' });

    expect(await runFlush(redis, [header('10', '20')], program().pack())).toEqual({ applied: true });
    expect(await redis.hgetall(`${redis.prefix}h`)).toEqual({ a: '4', f: '1', m: '7' });
  });

  it('a round of several partitions is all or nothing: one stale offset refuses it whole and names that partition', async () => {
    await using redis = testRedis();
    const state = new SpeedKeys(redis.prefix).partitions('g');
    const program = (visitor: string) => {
      const p = new FlushProgram(state);
      p.incrBy(`${redis.prefix}h`, 'views', 3);
      p.hSetBytes(`${redis.prefix}sketches`, visitor, sketchBytes);
      return p;
    };
    const applied = await runFlush(redis, [header(null, '5', 0), header(null, '7', 1), header(null, '9', 2)], program('a').pack());
    expect(applied).toEqual({ applied: true });
    expect(await redis.hgetall(state)).toEqual({
      'o:t:0': '5', 't:t:0': '1000', 's:t:0': '2000',
      'o:t:1': '7', 't:t:1': '1001', 's:t:1': '2000',
      'o:t:2': '9', 't:t:2': '1002', 's:t:2': '2000',
    });

    // Partition 1 moved on elsewhere (another worker wrote 8): nothing of the round is written, for any partition.
    await redis.hset(state, 'o:t:1', '8');
    const refused = await runFlush(redis, [header('5', '6', 0), header('7', '10', 1), header('9', '11', 2)], program('b').pack());
    expect(refused).toEqual({ applied: false, refused: [{ index: 1, storedOffset: '8' }] });
    expect(await redis.hmget(state, 'o:t:0', 'o:t:1', 'o:t:2')).toEqual(['5', '8', '9']);
    expect(await redis.hget(`${redis.prefix}h`, 'views')).toBe('3');
    expect(await redis.hkeys(`${redis.prefix}sketches`)).toEqual(['a']);

    // Every stale partition is named, a partition never stored as '' (null).
    const stale = await runFlush(redis, [header('4', '6', 0), header(null, '2', 3)], program('c').pack());
    expect(stale).toEqual({ applied: false, refused: [{ index: 0, storedOffset: '5' }] });
    const both = await runFlush(redis, [header('4', '6', 0), header('1', '2', 3)], program('c').pack());
    expect(both).toEqual({ applied: false, refused: [{ index: 0, storedOffset: '5' }, { index: 1, storedOffset: null }] });
    expect(await redis.hget(`${redis.prefix}h`, 'views')).toBe('3');
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
    expect(await runFlush(redis, [header(null, '1')], program.pack())).toEqual({ applied: true });

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

  it('regression: a flush of 75,000 hash writes is one atomic call (spreading its arguments into a JS call overflowed the stack)', async () => {
    await using redis = testRedis();
    const program = new FlushProgram(new SpeedKeys(redis.prefix).partitions('g'));
    for (let i = 0; i < 75_000; i++) program.hSet(`${redis.prefix}big`, `field-${i}`, String(i));
    expect(program.size).toBe(75_000);
    expect(await runFlush(redis, [header(null, '1')], program.pack())).toEqual({ applied: true });
    expect(await redis.hlen(`${redis.prefix}big`)).toBe(75_000);
  });

  it('an HSET run of binary values longer than a chunk, PEXPIRE runs across keys, ZINCRBY, SET and session expiry', async () => {
    await using redis = testRedis();
    const keys = new SpeedKeys(redis.prefix);
    const program = new FlushProgram(keys.partitions('g'));
    program.incrBy(`${redis.prefix}h`, 'a', 1);
    const dense = Buffer.alloc(16_385, 0xc3); // a dense sketch's size; 0xc3 alone is not UTF-8
    for (let index = 0; index < 600; index++) program.hSetBytes(`${redis.prefix}sketches`, `f${index}`, index === 0 ? dense : sketchBytes);
    program.pExpire(`${redis.prefix}sketches`, 60_000);
    program.pExpire(`${redis.prefix}h`, 30_000.4);
    program.zIncrBy(`${redis.prefix}top`, 'x', 2);
    program.zIncrBy(`${redis.prefix}top`, 'x', 3);
    program.set(`${redis.prefix}group`, 'g');
    await redis.zadd(`${redis.prefix}index`, '1700000000000', 'old', '1800000000000', 'new');
    await redis.hset(`${redis.prefix}sessions`, 'old', '{}', 'new', '{}');
    program.expireSessionsBefore(`${redis.prefix}index`, `${redis.prefix}sessions`, 1_750_000_000_000);
    expect(await runFlush(redis, [header(null, '1')], program.pack())).toEqual({ applied: true });

    expect(await redis.hlen(`${redis.prefix}sketches`)).toBe(600);
    expect(await redis.hgetBuffer(`${redis.prefix}sketches`, 'f0')).toEqual(dense);
    expect(await redis.hgetBuffer(`${redis.prefix}sketches`, 'f599')).toEqual(sketchBytes);
    expect(await redis.pttl(`${redis.prefix}sketches`)).toBeGreaterThan(59_000);
    expect(await redis.pttl(`${redis.prefix}h`)).toBeGreaterThan(29_000);
    expect(await redis.pttl(`${redis.prefix}h`)).toBeLessThanOrEqual(30_000);
    expect(await redis.zscore(`${redis.prefix}top`, 'x')).toBe('5');
    expect(await redis.get(`${redis.prefix}group`)).toBe('g');
    expect(await redis.zrange(`${redis.prefix}index`, '0', '-1')).toEqual(['new']);
    expect(await redis.hkeys(`${redis.prefix}sessions`)).toEqual(['new']);
  });

  it('packs strings so Redis unpacks exactly the bytes Buffer would have sent, lone surrogates included, and numbers as numbers', async () => {
    await using redis = testRedis();
    const strings = ['', 'I', '42', 'a'.repeat(31), 'b'.repeat(32), 'd'.repeat(255), 'e'.repeat(256), Array.from({ length: 255 }, (_, index) => String.fromCharCode(32 + (index % 95))).join(''), Array.from({ length: 40 }, (_, index) => String.fromCharCode(index % 128)).join(''), `${'f'.repeat(200)}é`, 'c'.repeat(70_000), 'ünï', '日本', '😀', 'lone \uD800 high', '\uDC00', 'x\u0000y', '-1.5e-7'];
    const writer = new MsgpackWriter(16);
    const length = writer.placeholder();
    for (const text of strings) writer.string(text);
    writer.patch(length, strings.length);
    const echoed = (await redis.callBuffer('EVAL', 'return cmsgpack.unpack(ARGV[1])', 0, writer.bytes())) as Buffer[];
    expect(echoed.map((bytes) => bytes.toString('hex'))).toEqual(strings.map((text) => Buffer.from(text, 'utf8').toString('hex')));

    // Each number round-trips through Lua exactly (Lua prints it with 17 digits; JS reads back the same double).
    const numbers = [0, 1, 127, 128, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 1_769_904_000_000, 0.1 + 0.2, -7.25, 1e300, -0];
    const numberWriter = new MsgpackWriter();
    const numbersAt = numberWriter.placeholder();
    for (const value of numbers) numberWriter.number(value);
    numberWriter.patch(numbersAt, numbers.length);
    const texts = (await redis.eval(
      "local out = {} for i, v in ipairs(cmsgpack.unpack(ARGV[1])) do out[i] = string.format('%.17g', v) end return out",
      0,
      numberWriter.bytes(),
    )) as string[];
    expect(texts.map(Number)).toEqual(numbers.map((value) => (Object.is(value, -0) ? -0 : value)));
    expect(unpack(numberWriter.bytes())).toEqual(numbers);
  });

  it('rejects a malformed program (unknown opcode, bad key index, cut short) before writing anything', async () => {
    await using redis = testRedis();
    const state = new SpeedKeys(redis.prefix).partitions('g');
    const withRun = (...run: unknown[]) => {
      const program = new FlushProgram(state);
      program.incrBy(`${redis.prefix}h`, 'a', 1);
      const packed = program.pack();
      return { keys: packed.keys, ops: pack([...(unpack(packed.ops) as unknown[]), ...run]) };
    };
    await expect(runFlush(redis, [header(null, '1')], withRun('?', 1, 0))).rejects.toThrow(/unknown opcode/);
    await expect(runFlush(redis, [header(null, '1')], withRun('S', 99, 1, 'f', 'v'))).rejects.toThrow(/bad run header/);
    await expect(runFlush(redis, [header(null, '1')], withRun('S', 2, 2, 'f', 'v'))).rejects.toThrow(/ends inside a run/);
    expect(await redis.exists(`${redis.prefix}h`)).toBe(0);
    expect(await redis.hget(state, 'o:t:0')).toBeNull();
  });
});
