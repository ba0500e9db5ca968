import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClickstreamGenerator, produceDemo } from '../../shared/demo/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { clickstream } from '../../shared/sources/index.ts';
import { createTopic, tempDir, testKafka, testLogger, topicMessageCount, waitForMessages } from '../harness/index.ts';

describe('produce → consume round trip through real Kafka', () => {
  it('delivers every generated message, keyed by user, exactly as teed', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'produce', partitions: 3 });
    using dir = tempDir();
    const tee = path.join(dir.path, 'events.jsonl');
    const registry = createMetricsRegistry('produce-test');
    const count = 3_000;
    const result = await produceDemo({
      kafka,
      logger: testLogger,
      registry,
      source: 'clickstream',
      topic: topic.topic,
      partitions: 3,
      generator: new ClickstreamGenerator({ seed: 5, badFraction: 0.01, lateFraction: 0.02, disorderMs: 2_000 }),
      ratePerS: Infinity,
      count,
      startMs: Date.parse('2026-01-01T00:00:00Z'),
      spanMs: 3_600_000,
      teeFile: tee,
      batchSize: 250,
    });
    expect(result.sent).toBe(count);
    expect(result.byKind.ok + result.byKind.late + result.byKind.bad).toBe(count);
    expect(result.byKind.bad).toBeGreaterThan(0);

    const teed = readFileSync(tee, 'utf8').trimEnd().split('\n');
    expect(teed).toHaveLength(count);
    expect(await topicMessageCount(kafka, topic.topic)).toBe(count);
    const received = await waitForMessages(kafka, topic.topic, count);
    expect(received.map((m) => m.value).sort()).toEqual([...teed].sort());

    // Valid events are keyed by user_id; event times follow --start/--span.
    const partitionsOfUser = new Map<string, Set<number>>();
    for (const message of received) {
      const decoded = clickstream.decode(message.value);
      if (!decoded.ok) continue;
      expect(message.key).toBe(decoded.event.user_id);
      expect(decoded.event.ts).toBeLessThan(Date.parse('2026-01-01T01:00:00Z'));
      const partitions = partitionsOfUser.get(decoded.event.user_id) ?? new Set();
      partitions.add(message.partition);
      partitionsOfUser.set(decoded.event.user_id, partitions);
    }
    for (const partitions of partitionsOfUser.values()) expect(partitions.size).toBe(1);

    const metrics = await registry.getSingleMetricAsString('braid_demo_events_produced_total');
    expect(metrics).toMatch(new RegExp(`kind="bad"[^}]*\\} ${result.byKind.bad}$`, "m"));
  });

  it('stops cleanly on abort, having sent and teed the same messages', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'produce-abort' });
    using dir = tempDir();
    const tee = path.join(dir.path, 'events.jsonl');
    const abort = new AbortController();
    const running = produceDemo({
      kafka,
      logger: testLogger,
      registry: createMetricsRegistry('produce-test'),
      source: 'clickstream',
      topic: topic.topic,
      partitions: 1,
      generator: new ClickstreamGenerator({ seed: 9 }),
      ratePerS: 2_000,
      teeFile: tee,
      signal: abort.signal,
      onProgress: (progress) => {
        if (progress.sent >= 500) abort.abort();
      },
    });
    const result = await running;
    expect(result.sent).toBeGreaterThanOrEqual(500);
    expect(readFileSync(tee, 'utf8').trimEnd().split('\n')).toHaveLength(result.sent);
    expect(await topicMessageCount(kafka, topic.topic)).toBe(result.sent);
  });
});
