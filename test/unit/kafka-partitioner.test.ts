import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { StablePartitioner } from '../../shared/clients/index.ts';

const metadata = (leaders: number[]): PartitionMetadata[] =>
  leaders.map((leader, partitionId) => ({ partitionId, leader, partitionErrorCode: 0, replicas: [0], isr: [0] }));
const values = Array.from({ length: 200 }, (_, index) => `not json ${index}`);

describe('StablePartitioner', () => {
  it('places a keyless message by its value: the same partition on every call, whatever the leaders', () => {
    const first = StablePartitioner();
    const second = StablePartitioner();
    const placed = values.map((value) => first({ topic: 't', partitionMetadata: metadata([0, 0, 0]), message: { key: null, value } }));
    // A retry: a fresh partitioner (or the same one later) and a partition without a leader must not move anything.
    const again = values.map((value) => second({ topic: 't', partitionMetadata: metadata([0, -1, 0]), message: { value } }));
    const repeated = values.map((value) => first({ topic: 't', partitionMetadata: metadata([0, 0, 0]), message: { key: null, value } }));
    expect(again).toEqual(placed);
    expect(repeated).toEqual(placed);
    expect(new Set(placed)).toEqual(new Set([0, 1, 2]));
  });

  it('places a keyless message the same whether its value is a string or its bytes, and a message with no value at all always alike', () => {
    const stable = StablePartitioner();
    const other = StablePartitioner();
    for (const value of values) {
      const args = { topic: 't', partitionMetadata: metadata([0, 0, 0]) };
      expect(stable({ ...args, message: { key: null, value: Buffer.from(value) } })).toBe(stable({ ...args, message: { key: null, value } }));
    }
    const empty = Array.from({ length: 20 }, (_, index) =>
      (index % 2 === 0 ? stable : other)({ topic: 't', partitionMetadata: metadata(index % 3 === 0 ? [0, -1, 0] : [0, 0, 0]), message: { key: null, value: null } }),
    );
    expect(new Set(empty).size).toBe(1);
  });

  it('places keyed messages exactly as kafkajs does, and keeps an explicit partition', () => {
    const stable = StablePartitioner();
    const kafkajs = Partitioners.DefaultPartitioner();
    for (const [index, value] of values.entries()) {
      const args = { topic: 't', partitionMetadata: metadata([0, 0, 0, 0]), message: { key: `u${index}`, value } };
      expect(stable(args)).toBe(kafkajs(args));
    }
    expect(stable({ topic: 't', partitionMetadata: metadata([0, 0, 0]), message: { key: null, value: 'x', partition: 2 } })).toBe(2);
  });
});
