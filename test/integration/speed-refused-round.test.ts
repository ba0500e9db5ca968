import { describe, expect, it } from 'vitest';
import { createProducer } from '../../shared/clients/index.ts';
import { ClickstreamGenerator } from '../../shared/demo/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews } from '../../shared/views/index.ts';
import { SpeedWorker, speedGroupId } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { createTopic, testConfig, testKafka, testLogger, testRedis, uniqueName, waitFor, waitUntilSpeedCaughtUp } from '../harness/index.ts';
import { diffDumps, dumpViews } from '../harness/speed-dump.ts';

const START_MS = Date.parse('2026-05-01T00:00:00Z');
const PARTITIONS = 3;
/** The partition another worker "takes over" while this one holds a round of it. */
const MOVED = 1;
/** A partition whose first messages come in the refused round: restored, it goes back to where it was first read. */
const NEW_IN_ROUND = 2;
/** Long enough that the worker flushes only when the test says (and once, caught up, at the start). */
const NO_FLUSH_MS = 120_000;

type Keyed = { key: string; value: string; partition: number };

/** Messages keyed by user, each user's in one partition (a stable hash, so two topics get the same split). */
function messages(seed: number, count: number, fromMs: number): Keyed[] {
  const generator = new ClickstreamGenerator({ seed, disorderMs: 2_000, users: 400, urls: 60 });
  return Array.from({ length: count }, (_, index) => {
    const message = generator.next(fromMs + index * 500);
    const key = message.key ?? 'none';
    let hash = 0;
    for (let at = 0; at < key.length; at++) hash = (hash * 31 + key.charCodeAt(at)) >>> 0;
    return { key, value: message.value, partition: hash % PARTITIONS };
  });
}

describe('speed worker: a flush round refused because one partition moved on', () => {
  it('writes nothing of the round, restores and re-reads all its partitions, and the numbers come out exact', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'refused', partitions: PARTITIONS });
    await using expectedTopic = await createTopic(kafka, { prefix: 'refused-expected', partitions: PARTITIONS });
    await using redis = testRedis();
    // Partition NEW_IN_ROUND has nothing in the first part: no offset of it is stored when the round is refused.
    const first = messages(5, 3_000, START_MS).filter((message) => message.partition !== NEW_IN_ROUND);
    const second = messages(6, 1_500, START_MS + 3_000 * 500);
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      await producer.send({ topic: topic.topic, messages: first });
      // What the speed layer must end with: the moved partition's second part was taken by the "other worker"
      // (which, in this test, writes only its offset), so only the other partitions' second parts count.
      await producer.send({ topic: expectedTopic.topic, messages: [...first, ...second.filter((message) => message.partition !== MOVED)] });
    } finally {
      await producer.disconnect();
    }

    const configOf = (name: string, topicName: string, prefix: string, flushes: 'when told' | 'as usual') =>
      testConfig({
        'redis.keyPrefix': prefix,
        'kafka.clientId': uniqueName(name),
        'sources.clickstream.topic': topicName,
        'sources.clickstream.partitions': PARTITIONS,
        ...(flushes === 'when told' ? { 'speed.flushIntervalMs': NO_FLUSH_MS, 'speed.minFlushIntervalMs': NO_FLUSH_MS } : {}),
        // One pipeline thread, so one round (one script) holds every partition: with more, each thread's
        // partitions are a round of their own, refused or applied apart from the others'.
        'speed.pipelineThreads': 1,
      });
    // The reference flushes as usual: it only computes what the numbers must come to.
    const expectedConfig = configOf('refused-expected', expectedTopic.topic, `${redis.prefix}expected:`, 'as usual');
    const reference = await SpeedWorker.start({ config: expectedConfig, views: demoViews, logger: testLogger, registry: createMetricsRegistry('refused-reference') });
    await waitUntilSpeedCaughtUp(kafka, redis, expectedConfig, expectedTopic.topic, demoViews);
    await reference.stop();
    const expected = await dumpViews(redis, expectedConfig, START_MS);
    expect(expected.page_views!.length).toBeGreaterThan(100);

    const config = configOf('refused', topic.topic, `${redis.prefix}actual:`, 'when told');
    const registry = createMetricsRegistry('refused');
    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry });
    try {
      const consumer = worker.consumers[0]!;
      const handedOn = () => [...consumer.partitions.values()].reduce((sum, state) => sum + (state.next ?? 0), 0);
      // The first part, read, then flushed when told. (Waiting for the worker's own first caught-up flush
      // could hang: a partition counts as caught up until its first batch shows it behind, so that flush may
      // come after one partition's batch, and the next would wait for speed.minFlushIntervalMs.)
      await waitFor(async () => handedOn() === first.length, { timeoutMs: 30_000, what: 'the first part read' });
      await consumer.flush();
      const stateKey = new SpeedKeys(config.redis.keyPrefix).partitions(speedGroupId(config.kafka.clientId, 'clickstream', demoViews, demoViews));
      const stored = async () => (await redis.hmget(stateKey, ...[0, 1, 2].map((partition) => SpeedKeys.offsetField(topic.topic, partition)))).map((offset) => (offset === null ? null : Number(offset)));
      const afterFirst = await stored();
      expect(afterFirst[NEW_IN_ROUND]).toBeNull();
      expect(afterFirst.reduce((sum: number, offset) => sum + (offset ?? 0), 0)).toBe(first.length);

      // The second part, read into the pipeline but not flushed.
      const sender = createProducer(kafka);
      await sender.connect();
      await sender.send({ topic: topic.topic, messages: second });
      await sender.disconnect();
      await waitFor(async () => handedOn() === first.length + second.length, { timeoutMs: 30_000, what: 'the second part read' });

      // Meanwhile another worker took partition MOVED and moved it to its end.
      const movedEnd = afterFirst[MOVED]! + second.filter((message) => message.partition === MOVED).length;
      await redis.hset(stateKey, SpeedKeys.offsetField(topic.topic, MOVED), String(movedEnd));
      await consumer.flush();
      // Refused whole: the other partitions' offsets did not move either.
      expect(await stored()).toEqual(afterFirst.map((offset, partition) => (partition === MOVED ? movedEnd : offset)));
      expect(await registry.metrics()).toMatch(/braid_speed_flush_rejected_total\{source="clickstream"[^}]*\} 1\n/);

      // Every partition of the round was restored and sought back: the others' second parts are read again.
      await waitFor(async () => handedOn() === first.length + second.length, { timeoutMs: 30_000, what: 'the second part read again' });
      await consumer.flush();
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews, 30_000);
      expect(diffDumps(await dumpViews(redis, config, START_MS), expected)).toBe('');
    } finally {
      await worker.stop();
    }
  });
});
