import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews } from '../../shared/views/index.ts';
import { SpeedWorker, speedGroupId } from '../../speed/index.ts';
import { createTopic, produceClickstream, testConfig, testKafka, testLogger, testRedis, uniqueName, waitFor, waitUntilSpeedCaughtUp } from '../harness/index.ts';

const START_MS = Date.parse('2026-03-01T00:00:00Z');
/** Far longer than the test may take: only the caught-up flush can bring the offsets into Redis in time. */
const FLUSH_INTERVAL_MS = 120_000;
const CAUGHT_UP_WITHIN_MS = 20_000;

describe('speed worker: flush once every partition is read to its end', () => {
  it('writes a backlog, then live events, long before the next flush tick (regression: the last events waited for the tick)', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'prompt-flush', partitions: 3 });
    await using redis = testRedis();
    const config = testConfig({
      'redis.keyPrefix': redis.prefix,
      'kafka.clientId': uniqueName('prompt'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 3,
      'speed.flushIntervalMs': FLUSH_INTERVAL_MS,
      'speed.minFlushIntervalMs': 50,
    });
    const produce = (count: number, seed: number, startMs: number) =>
      produceClickstream(kafka, topic.topic, { partitions: 3, generator: { seed, users: 200, urls: 50 }, count, startMs, spanMs: 60_000 });

    await produce(3_000, 1, START_MS);
    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry: createMetricsRegistry('test-prompt-flush') });
    try {
      const started = Date.now();
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews, CAUGHT_UP_WITHIN_MS);
      // Live: a few events after the backlog is written go to Redis promptly as well.
      await produce(100, 2, START_MS + 60_000);
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews, CAUGHT_UP_WITHIN_MS);
      expect(Date.now() - started).toBeLessThan(FLUSH_INTERVAL_MS);

      // Kafka's committed offsets follow (one commit per flush round), so standard tools show no lag.
      const admin = kafka.admin();
      await admin.connect();
      try {
        const ends = await admin.fetchTopicOffsets(topic.topic);
        const groupId = speedGroupId(config.kafka.clientId, 'clickstream', demoViews, demoViews);
        await waitFor(
          async () => {
            const [committed] = await admin.fetchOffsets({ groupId, topics: [topic.topic] });
            return ends.every(({ partition, high }) => committed!.partitions.find((entry) => entry.partition === partition)?.offset === high);
          },
          { timeoutMs: 10_000, what: 'Kafka offsets committed up to the ends of the topic' },
        );
      } finally {
        await admin.disconnect();
      }
    } finally {
      await worker.stop();
    }
  });
});
