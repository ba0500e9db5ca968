import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews } from '../../shared/views/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { createTopic, produceClickstream, testConfig, testKafka, testLogger, testRedis, uniqueName, waitFor, waitUntilSpeedCaughtUp } from '../harness/index.ts';

const START_MS = Date.parse('2026-04-01T00:00:00Z');

describe('speed worker: a flush that Redis refuses', () => {
  it('is counted in braid_speed_flush_failures_total (0 before), tried again, and written once Redis takes writes again', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'flush-failures', partitions: 2 });
    await using redis = testRedis();
    const config = testConfig({
      'redis.keyPrefix': redis.prefix,
      'kafka.clientId': uniqueName('flush-failures'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 2,
      'speed.minFlushIntervalMs': 50,
      // Retries 200 ms, 400 ms, … apart: time enough to see failures and let Redis take writes again.
      'speed.flushRetries': 8,
    });
    const produce = (count: number, seed: number, startMs: number) =>
      produceClickstream(kafka, topic.topic, { partitions: 2, generator: { seed, users: 100, urls: 20 }, count, startMs, spanMs: 60_000 });
    const registry = createMetricsRegistry('test-flush-failures');
    const failures = async () => {
      const values = (await registry.getSingleMetric('braid_speed_flush_failures_total')!.get()).values.filter((value) => value.labels.source === 'clickstream');
      return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value.value, 0);
    };

    await produce(1_000, 1, START_MS);
    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry });
    const [, maxmemory] = (await redis.config('GET', 'maxmemory')) as [string, string];
    try {
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews, 60_000);
      expect(await failures()).toBe(0);
      // A Redis over its memory limit refuses the flush script's writes (OOM), as a full or failing Redis would.
      await redis.config('SET', 'maxmemory', '1');
      try {
        await produce(500, 2, START_MS + 60_000);
        await waitFor(async () => ((await failures()) ?? 0) >= 2, { timeoutMs: 30_000, what: 'two failed flushes' });
      } finally {
        await redis.config('SET', 'maxmemory', maxmemory);
      }
      // The retry writes the round: the worker goes on and catches up.
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews, 60_000);
      expect(await failures()).toBeGreaterThanOrEqual(2);
    } finally {
      await redis.config('SET', 'maxmemory', maxmemory);
      await worker.stop();
    }
    await expect(worker.done).resolves.toBeUndefined();
  });
});
