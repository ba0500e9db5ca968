import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews } from '../../shared/views/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { createTopic, produceClickstream, testConfig, testKafka, testLogger, testRedis, uniqueName, waitUntilSpeedCaughtUp } from '../harness/index.ts';
import { diffDumps, dumpViews } from '../harness/speed-dump.ts';

const EVENTS = 3_000;
/** More synthetic events than real ones, so anything the warm-up left behind would show. */
const WARM_UP_EVENTS = 30_000;

/** Every key under `prefix`, sorted, with the prefix and the client id (in the consumer group's name) taken out: they differ between the two workers. */
async function keyShapes(redis: Redis, prefix: string, clientId: string): Promise<string[]> {
  const keys = await redis.keys(`${prefix}*`);
  return keys.map((key) => key.slice(prefix.length).replaceAll(clientId, '<client>')).sort();
}

describe('speed worker warm-up', () => {
  it('leaves no trace: a warmed-up worker writes the same keys and rows, and counts the same events, as one that did not warm up', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'warm-up', partitions: 2 });
    // Real events in the hour the synthetic ones fall in (the last hour before start), so a leak would land among them.
    const startMs = Date.now() - 3_600_000;
    await produceClickstream(kafka, topic.topic, { partitions: 2, generator: { seed: 9, users: 300, urls: 40 }, count: EVENTS, startMs, spanMs: 3_000_000 });

    const run = async (redis: Redis & { prefix: string }, warmUpEvents: number) => {
      const clientId = uniqueName('warm');
      const config = testConfig({
        'redis.keyPrefix': redis.prefix,
        'kafka.clientId': clientId,
        'sources.clickstream.topic': topic.topic,
        'sources.clickstream.partitions': 2,
        'speed.flushIntervalMs': 100,
        'speed.pipelineThreads': 2,
        'speed.warmUpEvents': warmUpEvents,
      });
      const registry = createMetricsRegistry('test-warm-up');
      const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry });
      try {
        await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews, 60_000);
      } finally {
        await worker.stop();
      }
      const eventsIn = (await registry.getSingleMetric('braid_speed_events_in_total')!.get()).values.reduce((sum, { value }) => sum + value, 0);
      return { eventsIn, rows: await dumpViews(redis, config, startMs), keys: await keyShapes(redis, redis.prefix, clientId) };
    };

    await using coldRedis = testRedis();
    await using warmRedis = testRedis();
    const cold = await run(coldRedis, 0);
    const warm = await run(warmRedis, WARM_UP_EVENTS);

    expect(cold.eventsIn).toBe(EVENTS);
    expect(warm.eventsIn).toBe(EVENTS);
    expect(cold.rows.page_views!.length).toBeGreaterThan(0);
    expect(diffDumps(warm.rows, cold.rows)).toBe('');
    expect(warm.keys).toEqual(cold.keys);
  });
});
