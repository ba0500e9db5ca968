import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBatchView, recomputeView } from '../../batch/index.ts';
import { countryMinutes, pageViews, userSessions } from '../../shared/views/index.ts';
import { archiveUntil, createTopic, firstDifference, produceClickstream, tempDir, testConfig, testKafka, uniqueName } from '../harness/index.ts';

const START_MS = Date.parse('2026-05-01T00:00:00Z');
const HOUR_MS = 3_600_000;


describe('incremental recompute', () => {
  it('gives exactly the rows of a full recompute, recomputing only the windows near new events', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'incremental', partitions: 2 });
    using dir = tempDir('braid-incremental-');
    const config = testConfig({
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('incremental'),
      'sources.clickstream.topic': topic.topic,
      'archive.flushIntervalMs': 200,
    });
    const produce = (seed: number, startMs: number, lateFraction: number) =>
      // Late events 1–2 h behind land in hours version 1 already covered.
      produceClickstream(kafka, topic.topic, {
        partitions: 2,
        generator: { seed, disorderMs: 3_000, lateFraction, lateByMs: HOUR_MS, users: 400, urls: 60 },
        count: 3_000,
        startMs,
        spanMs: 3 * HOUR_MS,
      });

    await produce(1, START_MS, 0);
    await archiveUntil(config, kafka, topic.topic, 3_000);
    for (const view of [pageViews, countryMinutes, userSessions]) expect((await recomputeView({ config, view })).mode).toBe('full');

    await produce(2, START_MS + 3 * HOUR_MS, 0.05);
    await archiveUntil(config, kafka, topic.topic, 6_000);
    const range = { fromMs: START_MS - 6 * HOUR_MS, toMs: START_MS + 12 * HOUR_MS };
    for (const view of [pageViews, countryMinutes]) {
      const incremental = await recomputeView({ config, view, incremental: true });
      expect(incremental.mode).toBe('incremental');
      // Not everything: the first hour had no new events and stayed below the old cutoff.
      expect(Date.parse(incremental.recomputedRanges![0]!.from)).toBeGreaterThan(START_MS + 30 * 60_000);
      const incrementalRows = (await readBatchView(config.dataDir, view, { ...range, version: incremental.version })).rows;
      const full = await recomputeView({ config, view, cutoffMs: incremental.cutoffMs });
      expect(full.mode).toBe('full');
      const fullRows = (await readBatchView(config.dataDir, view, { ...range, version: full.version })).rows;
      expect(firstDifference(view.name, incrementalRows, fullRows)).toBe('');
      // Again with nothing new: every row kept.
      const idle = await recomputeView({ config, view, incremental: true, cutoffMs: incremental.cutoffMs });
      expect(idle).toMatchObject({ mode: 'incremental', recomputedRanges: [], rowCount: full.rowCount });
    }
    // Session views always recompute in full, and say why.
    const sessions = await recomputeView({ config, view: userSessions, incremental: true });
    expect(sessions.mode).toBe('full');
    expect(sessions.fullBecause).toMatch(/session/);
  });
});
