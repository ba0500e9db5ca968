import { describe, expect, it } from 'vitest';
import { BraidError } from '../../shared/errors/index.ts';
import { murmurHash64A, REDIS_HLL_REGISTER_COUNT, REDIS_HLL_SEED, RedisHll, redisHllPosition } from '../../shared/measures/redis-hll.ts';

// Redis's MurmurHash64A written the obvious way with BigInt, straight from
// hyperloglog.c, to check the 32-bit-halves version against.
const MASK_64 = (1n << 64n) - 1n;
const M = 0xc6a4a7935bd1e995n;
function referenceMurmur(bytes: Uint8Array, seed = REDIS_HLL_SEED): bigint {
  const len = bytes.length;
  let h = (BigInt(seed) ^ (BigInt(len) * M)) & MASK_64;
  const blocksEnd = len - (len & 7);
  for (let i = 0; i < blocksEnd; i += 8) {
    let k = 0n;
    for (let j = 7; j >= 0; j--) k = (k << 8n) | BigInt(bytes[i + j]!);
    k = (k * M) & MASK_64;
    k ^= k >> 47n;
    k = (k * M) & MASK_64;
    h ^= k;
    h = (h * M) & MASK_64;
  }
  const tail = len & 7;
  if (tail > 0) {
    for (let j = tail - 1; j >= 0; j--) h ^= BigInt(bytes[blocksEnd + j]!) << BigInt(8 * j);
    h = (h * M) & MASK_64;
  }
  h ^= h >> 47n;
  h = (h * M) & MASK_64;
  h ^= h >> 47n;
  return h;
}

/** Register index and value Redis's hllPatLen() derives from a hash. */
function referencePattern(hash: bigint): { index: number; value: number } {
  let rest = (hash >> 14n) | (1n << 50n);
  let value = 1;
  while ((rest & 1n) === 0n) {
    value++;
    rest >>= 1n;
  }
  return { index: Number(hash & 0x3fffn), value };
}

/** Deterministic xorshift32 so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

function sketchOf(values: Iterable<string>): RedisHll {
  const sketch = RedisHll.empty();
  for (const value of values) sketch.add(value);
  return sketch;
}

function range(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

const encoder = new TextEncoder();
const samples = [
  '',
  'a',
  'hello',
  'user-42',
  'abcdefgh',
  'abcdefghi',
  'é',
  'naïve café',
  '日本語のテキスト',
  '😀',
  '👩🏽‍💻 coder',
  'e\u0301', // combining accent: different bytes from 'é', a different element
  'x'.repeat(20),
  '🚀'.repeat(5),
];

describe('murmurHash64A', () => {
  it.each(samples)('matches the BigInt reference for %j', (text) => {
    const bytes = encoder.encode(text);
    expect(murmurHash64A(bytes)).toBe(referenceMurmur(bytes));
  });

  it('matches the reference for every length 0..20 and many random byte strings', () => {
    const next = random(7);
    for (let length = 0; length <= 20; length++) {
      for (let trial = 0; trial < 50; trial++) {
        const bytes = Uint8Array.from({ length }, () => Math.floor(next() * 256));
        expect(murmurHash64A(bytes), `length ${length} trial ${trial}`).toBe(referenceMurmur(bytes));
      }
    }
    // Bytes with the high bit set everywhere exercise the sign of every int32 half.
    for (let length = 0; length <= 20; length++) {
      const bytes = new Uint8Array(length).fill(0xff);
      expect(murmurHash64A(bytes)).toBe(referenceMurmur(bytes));
    }
  });

  it('takes another seed', () => {
    const bytes = encoder.encode('seeded');
    expect(murmurHash64A(bytes, 0)).toBe(referenceMurmur(bytes, 0));
    expect(murmurHash64A(bytes, 0xffffffff)).toBe(referenceMurmur(bytes, 0xffffffff));
  });
});

describe('RedisHll.add', () => {
  it.each([...samples, '\ud800 lone surrogate'])('sets the register Redis would for %j', (text) => {
    const sketch = sketchOf([text]);
    // A lone surrogate goes over the wire as U+FFFD (Buffer's UTF-8), as here.
    const expected = referencePattern(referenceMurmur(Buffer.from(text, 'utf8')));
    const registers = sketch.registers();
    const set = [...registers.keys()].filter((i) => registers[i] !== 0);
    expect(set).toEqual([expected.index]);
    expect(registers[expected.index]).toBe(expected.value);
  });

  it('agrees with the reference on 20 000 values', () => {
    const values = range(20_000, 'v-');
    const expected = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    for (const value of values) {
      const { index, value: run } = referencePattern(referenceMurmur(encoder.encode(value)));
      expected[index] = Math.max(expected[index]!, run);
    }
    expect(sketchOf(values).registers()).toEqual(expected);
  });

  it('is idempotent', () => {
    const once = sketchOf(range(500, 'x-'));
    const twice = sketchOf([...range(500, 'x-'), ...range(500, 'x-')]);
    expect(twice.registers()).toEqual(once.registers());
    expect(twice.count()).toBe(once.count());
  });
});

describe('RedisHll.count', () => {
  it('is 0 for no elements', () => {
    expect(RedisHll.empty().count()).toBe(0);
    expect(RedisHll.fromRegisters(new Uint8Array(REDIS_HLL_REGISTER_COUNT)).count()).toBe(0);
  });

  it('counts small sets exactly, as Redis does', () => {
    for (const n of [1, 2, 3, 10, 50]) expect(sketchOf(range(n, 'small-')).count()).toBe(n);
  });

  // Values PFCOUNT returned on Redis 7.0.15 after PFADD of element-0 … element-(n-1).
  it.each([
    [1000, 994],
    [20_000, 19_902],
  ])('equals the PFCOUNT Redis gave for %d elements (%d)', (n, pfcount) => {
    expect(sketchOf(range(n, 'element-')).count()).toBe(pfcount);
  });

  it('stays within a few standard errors (0.81%) of the truth', () => {
    const n = 200_000;
    expect(Math.abs(sketchOf(range(n, 'big-')).count() - n) / n).toBeLessThan(0.03);
  });

  it('follows changes after a cached count', () => {
    const sketch = sketchOf(range(100, 'c-'));
    const before = sketch.count();
    for (const value of range(1000, 'd-')) sketch.add(value);
    expect(sketch.count()).toBeGreaterThan(before);
  });
});

describe('RedisHll.merge', () => {
  const a = sketchOf(range(3000, 'a-'));
  const b = sketchOf(range(2000, 'b-'));
  const c = sketchOf([...range(1000, 'a-'), ...range(4000, 'c-')]);
  const merged = (...sketches: RedisHll[]): RedisHll => {
    const result = RedisHll.empty();
    for (const sketch of sketches) result.merge(sketch);
    return result;
  };

  it('is the sketch of the union', () => {
    const union = sketchOf([...range(3000, 'a-'), ...range(2000, 'b-')]);
    expect(merged(a, b).registers()).toEqual(union.registers());
    expect(merged(a, b).count()).toBe(union.count());
  });

  it('is commutative and associative', () => {
    const ab = a.clone();
    ab.merge(b);
    const ba = b.clone();
    ba.merge(a);
    expect(ab.registers()).toEqual(ba.registers());

    const ab_c = ab.clone();
    ab_c.merge(c);
    const bc = b.clone();
    bc.merge(c);
    const a_bc = a.clone();
    a_bc.merge(bc);
    expect(ab_c.registers()).toEqual(a_bc.registers());
  });

  it('has the empty sketch as its identity', () => {
    const left = RedisHll.empty();
    left.merge(a);
    const right = a.clone();
    right.merge(RedisHll.empty());
    expect(left.registers()).toEqual(a.registers());
    expect(right.registers()).toEqual(a.registers());
    expect(right.count()).toBe(a.count());
  });

  it('leaves the other sketch (and a clone’s source) untouched', () => {
    const before = b.registers();
    const copy = a.clone();
    copy.merge(b);
    expect(b.registers()).toEqual(before);
    expect(a.registers()).not.toEqual(copy.registers());
  });
});

describe('RedisHll held as a sorted list of positions while it has few registers, and as all 16384 past that', () => {
  /** Registers computed from the reference hash, one value at a time: the sketch every form must equal. */
  function referenceRegisters(values: readonly string[]): Uint8Array {
    const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    for (const value of values) {
      const { index, value: run } = referencePattern(referenceMurmur(encoder.encode(value)));
      if (run > registers[index]!) registers[index] = run;
    }
    return registers;
  }

  // Element counts around the point (1024 non-zero registers) where a sketch changes form.
  const sizes = [0, 1, 7, 300, 1000, 1040, 1100, 2500];

  it.each(sizes)('built from %i elements by add, by positions (shuffled, repeated) and by fromRegisters, it is one sketch', (size) => {
    const values = range(size, `s${size}-`);
    const expected = referenceRegisters(values);
    const next = random(size + 1);
    const positions = [...values, ...values.slice(0, size >> 1)].map(redisHllPosition).sort(() => next() - 0.5);
    const reference = RedisHll.fromRegisters(expected);
    for (const sketch of [sketchOf(values), RedisHll.fromPositions(positions), RedisHll.deserialize(reference.serialize())]) {
      expect(sketch.registers()).toEqual(expected);
      expect(sketch.count()).toBe(reference.count());
      expect(sketch.serialize()).toBe(reference.serialize());
      expect(sketch.toRedisBytes()).toEqual(reference.toRedisBytes());
    }
  });

  it.each([
    [5, 9],
    [600, 500],
    [1000, 3],
    [3, 2000],
    [2000, 700],
    [0, 1500],
  ])('a union of %i and %i elements is the same whichever forms meet, and leaves its input as it was', (left, right) => {
    const leftValues = range(left, 'l-');
    const rightValues = [...range(right >> 1, 'l-'), ...range(right - (right >> 1), 'r-')];
    const expected = referenceRegisters([...leftValues, ...rightValues]);
    const rightSketch = sketchOf(rightValues);
    const rightBefore = rightSketch.registers();
    const byMerge = sketchOf(leftValues);
    const cachedBefore = byMerge.count();
    byMerge.merge(rightSketch);
    expect(byMerge.registers()).toEqual(expected);
    expect(byMerge.count()).toBe(RedisHll.fromRegisters(expected).count());
    expect(rightSketch.registers()).toEqual(rightBefore);
    expect(cachedBefore).toBe(RedisHll.fromRegisters(referenceRegisters(leftValues)).count());
    // Adding the other side's elements one by one gives the same registers as the merge.
    const byAdd = sketchOf(leftValues);
    for (const value of rightValues) byAdd.add(value);
    expect(byAdd.registers()).toEqual(expected);
  });

  it('a clone is independent of its source in either form', () => {
    for (const size of [10, 3000]) {
      const source = sketchOf(range(size, 'c-'));
      const before = source.registers();
      const copy = source.clone();
      copy.merge(sketchOf(range(50, 'other-')));
      expect(source.registers()).toEqual(before);
      expect(copy.count()).toBeGreaterThan(source.count());
    }
  });
});

describe('Redis encodings', () => {
  it('writes a dense Redis string with a stale cached cardinality', () => {
    const bytes = sketchOf(range(100, 'h-')).toRedisBytes();
    expect(bytes.length).toBe(16 + 12_288);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('HYLL');
    expect(bytes[4]).toBe(0); // dense
    expect([...bytes.subarray(5, 8)]).toEqual([0, 0, 0]);
    expect(bytes[15]! & 0x80).toBe(0x80); // Redis must recompute the count
  });

  it('round-trips every 6-bit register value through the dense encoding', () => {
    const next = random(11);
    const registers = Uint8Array.from({ length: REDIS_HLL_REGISTER_COUNT }, () => Math.floor(next() * 64));
    const back = RedisHll.fromRedisBytes(RedisHll.fromRegisters(registers).toRedisBytes());
    expect(back.registers()).toEqual(registers);
  });

  it('decodes the sparse encoding Redis writes for a new, empty key', () => {
    // PFADD key (no elements): header, then XZERO covering all 16384 registers.
    const bytes = Buffer.from([...Buffer.from('HYLL'), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff]);
    expect(RedisHll.fromRedisBytes(bytes).count()).toBe(0);
  });

  it('decodes ZERO, XZERO and VAL opcodes', () => {
    // ZERO(3), VAL(5)×2, XZERO(16379): registers 3 and 4 are 5.
    const bytes = Buffer.from([...Buffer.from('HYLL'), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x02, 0x80 | (4 << 2) | 1, 0x40 | (16_378 >> 8), 16_378 & 0xff]);
    const registers = RedisHll.fromRedisBytes(bytes).registers();
    expect([...registers.subarray(0, 6)]).toEqual([0, 0, 0, 5, 5, 0]);
    expect(registers.reduce((sum, value) => sum + value, 0)).toBe(10);
  });

  it.each([
    ['too short', Buffer.from('HYLL')],
    ['wrong magic', Buffer.concat([Buffer.from('HALL'), Buffer.alloc(12_300)])],
    ['unknown encoding', Buffer.concat([Buffer.from('HYLL'), Buffer.from([2]), Buffer.alloc(12_299)])],
    ['dense of the wrong length', Buffer.concat([Buffer.from('HYLL'), Buffer.alloc(12_299)])],
    ['sparse runs short of 16384', Buffer.from([...Buffer.from('HYLL'), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xfe])],
    ['sparse runs past 16384', Buffer.from([...Buffer.from('HYLL'), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0x00])],
    ['sparse XZERO cut short', Buffer.from([...Buffer.from('HYLL'), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f])],
  ])('rejects %s', (_, bytes) => {
    expect(() => RedisHll.fromRedisBytes(bytes)).toThrow(BraidError);
    expect(() => RedisHll.fromRedisBytes(bytes)).toThrow(/HyperLogLog/);
  });

  it('rejects register arrays that are not 16384 six-bit values', () => {
    expect(() => RedisHll.fromRegisters(new Uint8Array(100))).toThrow(/16384 registers/);
    const tooBig = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    tooBig[9] = 64;
    expect(() => RedisHll.fromRegisters(tooBig)).toThrow(/register 9/);
  });
});

describe('serialize / deserialize', () => {
  it.each([0, 1, 10, 1000, 5000, 100_000])('round-trips a sketch of %d elements', (n) => {
    const sketch = sketchOf(range(n, 's-'));
    const back = RedisHll.deserialize(sketch.serialize());
    expect(back.registers()).toEqual(sketch.registers());
    expect(back.count()).toBe(sketch.count());
  });

  it('is compact for small sketches and stable', () => {
    expect(RedisHll.empty().serialize()).toBe('SFlMTAEAAAAAAAAAAAAAgH//');
    const small = sketchOf(range(10, 'compact-'));
    expect(small.serialize().length).toBeLessThan(100);
    expect(small.serialize()).toBe(sketchOf(range(10, 'compact-').reverse()).serialize());
  });

  it('falls back to dense when a register is too big for the sparse encoding', () => {
    const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    registers[0] = 33;
    const text = RedisHll.fromRegisters(registers).serialize();
    expect(Buffer.from(text, 'base64')[4]).toBe(0);
    expect(RedisHll.deserialize(text).registers()).toEqual(registers);
  });

  it('rejects text that is not base64 of a Redis HyperLogLog', () => {
    expect(() => RedisHll.deserialize('not base64!')).toThrow(BraidError);
    expect(() => RedisHll.deserialize(Buffer.from('hello world, twenty bytes').toString('base64'))).toThrow(/HYLL/);
  });

  it('is rebuilt from register positions exactly as from its elements', () => {
    const elements = range(5_000, 'positions-');
    const positions = elements.map(redisHllPosition);
    for (const position of positions) {
      expect(position >> 6).toBeLessThan(REDIS_HLL_REGISTER_COUNT);
      expect(position & 63).toBeGreaterThan(0);
    }
    const fromElements = sketchOf(elements);
    // Order and repeats do not matter: each register keeps its largest value.
    const shuffled = [...positions, ...positions.slice(0, 100)].reverse();
    expect(RedisHll.fromPositions(shuffled).registers()).toEqual(fromElements.registers());
    expect(RedisHll.deserialize(JSON.stringify(positions)).count()).toBe(fromElements.count());
    expect(RedisHll.deserialize('[]').count()).toBe(0);
  });

  it('rejects positions outside the registers', () => {
    expect(() => RedisHll.fromPositions([REDIS_HLL_REGISTER_COUNT * 64 + 1])).toThrow(/not a HyperLogLog position/);
    expect(() => RedisHll.fromPositions([64])).toThrow(BraidError);
    expect(() => RedisHll.fromPositions([1.5])).toThrow(BraidError);
    expect(() => RedisHll.deserialize('[1, "two"]')).toThrow(/JSON array of integers/);
    expect(() => RedisHll.deserialize('[1,')).toThrow(BraidError);
  });
});
