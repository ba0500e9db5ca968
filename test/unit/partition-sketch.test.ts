import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { PartitionSketch, REDIS_HLL_REGISTER_COUNT, RedisHll, redisHllPosition } from '../../shared/measures/index.ts';

describe('partition sketches', () => {
  it.each([0, 1, 3, 4, 5, 9, 40, 1_100])(
    'a partition sketch of %i registers (held in its fields, a sorted array, or dense) reports each growth and stores its registers in order',
    (registers) => {
      const random = xoroshiro128plus(registers + 5);
      const sketch = new PartitionSketch();
      const reference = new Map<number, number>();
      // Each register offered several times, values up and down, in random order: growth in place and inserts.
      const offers: number[] = [];
      for (let index = 0; index < registers; index++) {
        const register = (index * 7_919) % REDIS_HLL_REGISTER_COUNT;
        for (let repeat = uniformInt(random, 1, 3); repeat > 0; repeat--) offers.push(register * 64 + uniformInt(random, 1, 20));
      }
      for (let index = offers.length - 1; index > 0; index--) {
        const other = uniformInt(random, 0, index);
        [offers[index], offers[other]] = [offers[other]!, offers[index]!];
      }
      for (const position of offers) {
        const register = position >> 6;
        const grows = (position & 63) > (reference.get(register) ?? 0);
        if (grows) reference.set(register, position & 63);
        expect(sketch.add(position), `offer ${position}`).toBe(grows);
      }
      const want = RedisHll.fromPositions([...reference].map(([register, value]) => register * 64 + value)).registers();
      const stored = sketch.toBytes();
      const merged = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
      PartitionSketch.mergeInto(merged, stored);
      expect(Buffer.from(merged).equals(Buffer.from(want)), 'registers').toBe(true);
      // Equal sketches store equal bytes whatever the order their elements came in.
      expect(PartitionSketch.fromBytes(stored).toBytes()).toEqual(stored);
      if (registers <= 1_024) {
        expect(stored.length).toBe(1 + 3 * registers);
        // In register order, so equal sketches store equal bytes.
        const positions = Array.from({ length: registers }, (_, index) => stored.readUIntBE(1 + 3 * index, 3));
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      }
    },
  );

  it('partition sketches: registers only grow, a write is whole, and the stored form reads back (sparse and dense)', () => {
    const small = new PartitionSketch();
    const positions = ['a', 'b', 'c'].map(redisHllPosition);
    expect(positions.map((position) => small.add(position))).toEqual([true, true, true]);
    expect(small.add(positions[0]!)).toBe(false);
    // A lower value for a register is no change; a higher one is.
    expect(small.add((positions[0]! & ~63) | 1)).toBe((positions[0]! & 63) < 1);
    expect(small.add((positions[0]! & ~63) | 60)).toBe(true);
    const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    PartitionSketch.mergeInto(registers, small.toBytes());
    expect(registers[positions[0]! >> 6]).toBe(60);
    expect(registers.filter((value) => value > 0).length).toBe(new Set(positions.map((position) => position >> 6)).size);

    // Past the in-memory threshold: held and stored dense; a restored copy writes the same bytes.
    const users = Array.from({ length: 5_000 }, (_, index) => `u${index}`);
    const big = new PartitionSketch();
    for (const user of users) big.add(redisHllPosition(user));
    const bytes = big.toBytes();
    expect(bytes.length).toBe(1 + REDIS_HLL_REGISTER_COUNT);
    expect(PartitionSketch.fromBytes(bytes).toBytes()).toEqual(bytes);
    expect(PartitionSketch.fromBytes(small.toBytes()).toBytes()).toEqual(small.toBytes());
    const merged = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    PartitionSketch.mergeInto(merged, bytes);
    expect(merged).toEqual(RedisHll.fromPositions(users.map(redisHllPosition)).registers());
    // Anything else is refused, not misread.
    expect(() => PartitionSketch.mergeInto(merged, Buffer.from([0x50, 1, 2]))).toThrow(/3 bytes each/);
    expect(() => PartitionSketch.fromBytes(Buffer.from([0x48, 0x59]))).toThrow(/leading byte/);
  });

  it('a sparse partition sketch stores its registers in register order, whatever order its elements came in', () => {
    // 600 elements: the sparse list grows several times, and stays under the dense threshold.
    const positions = Array.from({ length: 600 }, (_, index) => redisHllPosition(`visitor-${index}`));
    const forward = new PartitionSketch();
    for (const position of positions) forward.add(position);
    const backward = new PartitionSketch();
    for (const position of [...positions].reverse()) backward.add(position);
    const bytes = forward.toBytes();
    expect(bytes[0]).toBe(0x50);
    expect(backward.toBytes()).toEqual(bytes);
    const stored: number[] = [];
    for (let at = 1; at < bytes.length; at += 3) stored.push(((bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!) >> 6);
    expect(stored).toEqual([...new Set(positions.map((position) => position >> 6))].sort((a, b) => a - b));
    // A restored half that takes the other half writes what one sketch of all of them writes.
    const half = new PartitionSketch();
    for (const position of positions.slice(0, 300)) half.add(position);
    const restored = PartitionSketch.fromBytes(half.toBytes());
    for (const position of positions.slice(300)) restored.add(position);
    expect(restored.toBytes()).toEqual(bytes);
    const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    PartitionSketch.mergeInto(registers, bytes);
    expect(registers).toEqual(RedisHll.fromPositions(positions).registers());
  });
});
