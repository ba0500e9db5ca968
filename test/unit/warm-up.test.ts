import { describe, expect, it } from 'vitest';
import { clickstream as clickstreamSource, defineSource, type Source } from '../../shared/sources/index.ts';
import { syntheticEvent, WARM_UP_BATCH_SIZE, warmUpBatches } from '../../speed/warm-up.ts';

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

  it('come packed as the consumer packs a batch: values back to back, no keys, offsets from 0', () => {
    const batches = [...warmUpBatches(everyType, WARM_UP_BATCH_SIZE + 5, BASE_MS, 1_000)];
    expect(batches.map((batch) => batch.offsets.length)).toEqual([WARM_UP_BATCH_SIZE, 5]);
    expect([...batches[1]!.offsets]).toEqual([2_000, 2_001, 2_002, 2_003, 2_004]);
    for (const batch of batches) {
      expect(batch.values.length).toBe(batch.valueLengths.reduce((sum, length) => sum + length, 0));
      expect([...batch.keyLengths].every((length) => length === -1)).toBe(true);
    }
    const events = decodeAll(warmUpBatches(everyType, WARM_UP_BATCH_SIZE + 5, BASE_MS, 1_000));
    expect(events).toHaveLength(WARM_UP_BATCH_SIZE + 5);
    expect(events[2_003]).toEqual(syntheticEvent(everyType, 2_003, BASE_MS, 1_000));
  });
});
