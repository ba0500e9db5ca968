import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentVersion, listVersions, readBatchView, recomputeView } from '../../batch/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews, pageViews } from '../../shared/views/index.ts';
import { readSpeedView, SpeedWorker } from '../../speed/index.ts';
import { EXPIRY_GRACE_MS, readBatchPublished, SpeedKeys } from '../../shared/speed-contract/index.ts';
import { archiveUntil, createTopic, deleteTopics, produceClickstream, tempDir, testConfig, testKafka, testLogger, testRedis, uniqueName, waitUntilSpeedCaughtUp } from '../harness/index.ts';

const START_MS = Date.parse('2026-04-01T00:00:00Z');

describe('batch views: versions, pinning, and the handshake with the speed layer', () => {
  it('speed and batch agree on every window up to the cutoff; the publish hands those windows over; a pinned reader keeps its version', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'lambda', partitions: 2 });
    await using redis = testRedis();
    using dir = tempDir('braid-lambda-');
    const config = testConfig({
      'redis.keyPrefix': redis.prefix,
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('lambda'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 2,
      'archive.flushIntervalMs': 200,
      'speed.flushIntervalMs': 200,
    });
    // Disorder inside the bound and no late events: both layers must count every event alike.
    await produceClickstream(kafka, topic.topic, {
      partitions: 2,
      generator: { seed: 8, disorderMs: 2_000, users: 500, urls: 80 },
      count: 6_000,
      startMs: START_MS,
      spanMs: 2 * 3_600_000,
    });
    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry: createMetricsRegistry('speed') });
    try {
      await archiveUntil(config, kafka, topic.topic, 6_000);
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
    } finally {
      await worker.stop();
      await deleteTopics(kafka, [`${topic.topic}.dlq`, `${topic.topic}.late`]);
    }

    const target = { redis, keys: new SpeedKeys(redis.prefix), maxOutOfOrdernessMs: 5_000, idleTimeoutMs: 30_000 };
    const range = { fromMs: START_MS - 3_600_000, toMs: START_MS + 4 * 3_600_000 };
    const speedBefore = await readSpeedView(target, pageViews, range);

    // Version 1 with an early cutoff, then version 2 with the default one.
    const firstCutoff = START_MS + 30 * 60_000;
    const v1 = await recomputeView({ config, view: pageViews, cutoffMs: firstCutoff });
    expect(v1.version).toBe(1);
    const pinned = currentVersion(config.dataDir, pageViews.name)!;
    const readV1 = await readBatchView(config.dataDir, pageViews, { ...range, version: pinned });
    expect(Math.max(...readV1.rows.map((row) => row.windowEnd))).toBeLessThanOrEqual(firstCutoff);

    const v2 = await recomputeView({ config, view: pageViews });
    expect(v2.version).toBe(2);
    expect(v2.cutoffMs).toBeGreaterThan(firstCutoff);
    expect(v2.cutoffMs % 60_000).toBe(0);
    expect(listVersions(config.dataDir, pageViews.name).map((m) => [m.version, m.cutoffMs])).toEqual([
      [1, firstCutoff],
      [2, v2.cutoffMs],
    ]);
    // The reader that pinned v1 still reads exactly v1; a new reader gets v2.
    expect((await readBatchView(config.dataDir, pageViews, { ...range, version: pinned })).rows).toEqual(readV1.rows);
    const batch = await readBatchView(config.dataDir, pageViews, range);
    expect(batch.manifest!.version).toBe(2);

    // The Lambda contract on windows up to the cutoff: the same rows, HLL included (one sketch, two layers).
    const key = (row: { windowStart: number; dimensions: Record<string, unknown> }) => `${row.windowStart}|${String(row.dimensions.url)}`;
    const speedRows = new Map(speedBefore.rows.filter((row) => row.windowEnd <= v2.cutoffMs).map((row) => [key(row), row.measures]));
    expect(batch.rows.length).toBe(speedRows.size);
    for (const row of batch.rows) {
      const speed = speedRows.get(key(row));
      expect(speed, key(row)).toBeDefined();
      expect(row.measures.views).toBe(speed!.views);
      expect(row.measures.visitors).toBe(speed!.visitors);
      const revenue = row.measures.revenue as number | null;
      if (revenue === null) expect(speed!.revenue).toBeNull();
      else expect(Math.abs(revenue - (speed!.revenue as number))).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(revenue)));
    }

    // The handshake: Redis says which version and cutoff hold; speed windows up to the cutoff expire after the grace period.
    expect(await readBatchPublished(redis, target.keys, pageViews)).toEqual({ version: 2, cutoffMs: v2.cutoffMs });
    const handedOver = speedBefore.rows.find((row) => row.windowEnd <= v2.cutoffMs)!;
    const kept = speedBefore.rows.find((row) => row.windowEnd > v2.cutoffMs)!;
    const handedOverTtl = await redis.pttl(target.keys.window(pageViews.name, handedOver.windowStart));
    expect(handedOverTtl).toBeGreaterThan(0);
    expect(handedOverTtl).toBeLessThanOrEqual(EXPIRY_GRACE_MS);
    expect(await redis.pttl(target.keys.window(pageViews.name, kept.windowStart))).toBeGreaterThan(EXPIRY_GRACE_MS);
    const speedAfter = await readSpeedView(target, pageViews, range);
    expect(speedAfter.rows.every((row) => row.windowEnd > v2.cutoffMs)).toBe(true);
  });
});
