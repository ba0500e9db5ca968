import { describe, expect, it } from 'vitest';
import { clickstream as clickstreamSource, defineSource, type Source } from '../../shared/sources/index.ts';
import { PartitionSketch, redisHllPosition } from '../../shared/measures/index.ts';
import { syntheticEvent, WARM_UP_BATCH_SIZE, warmUpBatches, warmUpSchedule } from '../../speed/threads/warm-up.ts';

const BASE_MS = Date.parse('2026-12-01T00:00:00Z');

const everyType = defineSource({
  name: 'every_type',
  fields: {
    at: { type: 'timestampMs' },
    name: { type: 'string' },
    count: { type: 'int' },
    price: { type: 'float' },
    flag: { type: 'bool' },
    note: { type: 'string', nullable: true },
    amount: { type: 'float', nullable: true },
  },
  timeField: 'at',
  keyFields: ['name'],
}) as unknown as Source;
/** Sources as the pipeline thread holds them (their event types erased). */
const clickstream = clickstreamSource as unknown as Source;

/** The events of all batches, decoded as the pipeline decodes them. */
function decodeAll(batches: ReturnType<typeof warmUpBatches>) {
  const events: Record<string, unknown>[] = [];
  for (const batch of batches) {
    const values = Buffer.from(batch.values);
    let at = 0;
    batch.valueLengths.forEach((length, index) => {
      const decoded = everyType.decode(values.subarray(at, (at += length)));
      if (!decoded.ok) throw new Error(`synthetic event ${index} does not decode: ${decoded.reason}`);
      events.push(decoded.event as Record<string, unknown>);
    });
  }
  return events;
}

describe('speed warm-up events', () => {
  it('are valid events of their source, every field in declared order with a value of its type', () => {
    for (const source of [everyType, clickstream]) {
      for (let index = 0; index < 50; index++) {
        const event = syntheticEvent(source, index, BASE_MS, 2_000);
        expect(Object.keys(event)).toEqual(Object.keys(source.fields));
        expect(source.validate(event)).toEqual({ ok: true, event });
      }
    }
    const event = syntheticEvent(everyType, 7, BASE_MS, 0);
    expect(typeof event.name).toBe('string');
    expect(Number.isInteger(event.count)).toBe(true);
    expect(typeof event.price).toBe('number');
    expect(typeof event.flag).toBe('boolean');
    // A nullable field is null in most events and set in some (index 7 is one of those).
    expect(event.note).not.toBeNull();
    expect(syntheticEvent(everyType, 8, BASE_MS, 0).note).toBeNull();
  });

  it('give an epoch-seconds time field seconds, which the source decodes to the same instants', () => {
    const inSeconds = defineSource({ name: 'in_seconds', fields: { at: { type: 'timestampMs', unit: 's' }, id: { type: 'string' } }, timeField: 'at', keyFields: ['id'] }) as unknown as Source;
    for (let index = 0; index < 20; index++) {
      const event = syntheticEvent(inSeconds, index, BASE_MS, 0);
      expect(event.at).toBe((BASE_MS + index * 4) / 1000);
      expect(inSeconds.validate(event)).toMatchObject({ ok: true, event: { at: BASE_MS + index * 4 } });
    }
  });

  it('move event time on 4 ms per event, out of order by less than the jitter, with keys that repeat', () => {
    const events = Array.from({ length: 10_000 }, (_, index) => syntheticEvent(clickstream, index, BASE_MS, 2_000));
    let outOfOrder = 0;
    events.forEach((event, index) => {
      const ts = event.ts as number;
      expect(ts).toBeLessThanOrEqual(BASE_MS + index * 4);
      expect(ts).toBeGreaterThan(BASE_MS + index * 4 - 2_000);
      if (index > 0 && ts < (events[index - 1]!.ts as number)) outOfOrder++;
    });
    expect(outOfOrder).toBeGreaterThan(0);
    const users = new Set(events.map((event) => event.user_id));
    expect(users.size).toBeGreaterThan(100);
    expect(users.size).toBeLessThanOrEqual(2_000);
  });

  it('give each throwaway pipeline cells of one to over a thousand users: inline, sparse and dense sketches', () => {
    // page_views' visitors (approxDistinct(user_id) by url and minute), per round and pipeline as the thread deals
    // the default 100,000 events out, each cell's users into a partition sketch as the operator adds them.
    const sketches = new Map<string, PartitionSketch>();
    const rounds = new Set<number>();
    for (const { round, slot, batch } of warmUpSchedule(clickstream, 100_000, BASE_MS, 2_000)) {
      rounds.add(round);
      const values = Buffer.from(batch.values);
      let at = 0;
      for (const length of batch.valueLengths) {
        const decoded = clickstream.decode(values.subarray(at, (at += length)));
        if (!decoded.ok) throw new Error(decoded.reason);
        const event = decoded.event as Record<string, unknown>;
        const cell = `${round}|${slot}|${String(event.url)}|${Math.floor((event.ts as number) / 60_000)}`;
        let sketch = sketches.get(cell);
        if (sketch === undefined) sketches.set(cell, (sketch = new PartitionSketch()));
        sketch.add(redisHllPosition(String(event.user_id)));
      }
    }
    expect([...rounds]).toEqual([0, 1]);
    const stored = [...sketches.values()].map((sketch) => sketch.toBytes());
    const dense = stored.filter((bytes) => bytes[0] === 'D'.charCodeAt(0)).length;
    const registers = stored.filter((bytes) => bytes[0] === 'P'.charCodeAt(0)).map((bytes) => (bytes.length - 1) / 3);
    // A sketch's own fields (up to 4 registers), its sorted array (5 to 1,024) and its dense array (past 1,024).
    expect(registers.filter((count) => count <= 4).length).toBeGreaterThan(1_000);
    expect(registers.filter((count) => count > 4).length).toBeGreaterThan(500);
    expect(dense).toBeGreaterThanOrEqual(2);
  });

  it('deal batches to two pipelines in turn, in two rounds of fresh ones, one batch at a time', () => {
    const steps = [...warmUpSchedule(everyType, 5 * WARM_UP_BATCH_SIZE + 5, BASE_MS, 1_000)];
    expect(steps.map(({ round, slot }) => [round, slot])).toEqual([[0, 0], [0, 1], [0, 0], [1, 1], [1, 0], [1, 1]]);
    expect(steps.map(({ batch }) => batch.offsets[0])).toEqual([0, 2_000, 4_000, 6_000, 8_000, 10_000]);
    expect([...warmUpSchedule(everyType, 10, BASE_MS, 1_000)].map(({ round, slot }) => [round, slot])).toEqual([[0, 0]]);
  });

  it('come packed as the consumer packs a batch: values back to back, keyed as the producer keys them, offsets from 0', () => {
    const batches = [...warmUpBatches(everyType, WARM_UP_BATCH_SIZE + 5, BASE_MS, 1_000)];
    expect(batches.map((batch) => batch.offsets.length)).toEqual([WARM_UP_BATCH_SIZE, 5]);
    expect([...batches[1]!.offsets]).toEqual([2_000, 2_001, 2_002, 2_003, 2_004]);
    for (const batch of batches) {
      expect(batch.values.length).toBe(batch.valueLengths.reduce((sum, length) => sum + length, 0));
      expect(batch.keys.length).toBe(batch.keyLengths.reduce((sum, length) => sum + length, 0));
    }
    const keys = Buffer.from(batches[1]!.keys);
    let at = 0;
    const firstKeys = [...batches[1]!.keyLengths].map((length) => keys.subarray(at, (at += length)).toString());
    expect(firstKeys).toEqual([2_000, 2_001, 2_002, 2_003, 2_004].map((index) => String(syntheticEvent(everyType, index, BASE_MS, 1_000).name)));
    const events = decodeAll(warmUpBatches(everyType, WARM_UP_BATCH_SIZE + 5, BASE_MS, 1_000));
    expect(events).toHaveLength(WARM_UP_BATCH_SIZE + 5);
    expect(events[2_003]).toEqual(syntheticEvent(everyType, 2_003, BASE_MS, 1_000));
  });
});
