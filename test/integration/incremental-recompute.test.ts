import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBatchView, recomputeView } from '../../batch/index.ts';
import { countryMinutes, pageViews, userSessions } from '../../shared/views/index.ts';
import { archiveUntil, createTopic, produceClickstream, tempDir, testConfig, testKafka, uniqueName } from '../harness/index.ts';

const START_MS = Date.parse('2026-05-01T00:00:00Z');
const HOUR_MS = 3_600_000;


describe('incremental recompute', () => {
  it('gives exactly the rows of a full recompute, recomputing only the hours that changed', async () => {
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
      // Late events 1–2 h behind land in hours the first version already covered.
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
      // Not everything: the first hours had no new files and stayed below the old cutoff.
      expect(incremental.recomputedHours!.length).toBeLessThan(6);
      const incrementalRows = (await readBatchView(config.dataDir, view, { ...range, version: incremental.version })).rows;
      const full = await recomputeView({ config, view, cutoffMs: incremental.cutoffMs });
      expect(full.mode).toBe('full');
      const fullRows = (await readBatchView(config.dataDir, view, { ...range, version: full.version })).rows;
      expect(incrementalRows.length).toBe(fullRows.length);
      // Exact, but for floating sums: DuckDB adds in another order when it reads another set of files.
      const same = (a: unknown, b: unknown): boolean =>
        typeof a === 'number' && typeof b === 'number' && !Number.isInteger(a + b)
          ? Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a))
          : typeof a === 'object' && a !== null && b !== null && typeof b === 'object'
            ? Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([key, value]) => same(value, (b as Record<string, unknown>)[key]))
            : a === b;
      const firstDifference = incrementalRows.findIndex((row, index) => !same(row, fullRows[index]));
      expect(
        firstDifference === -1 ? '' : `${view.name} row ${firstDifference}: incremental ${JSON.stringify(incrementalRows[firstDifference])} vs full ${JSON.stringify(fullRows[firstDifference])}`,
      ).toBe('');
    }
    // Session views always recompute in full, and say why.
    const sessions = await recomputeView({ config, view: userSessions, incremental: true });
    expect(sessions.mode).toBe('full');
    expect(sessions.fullBecause).toMatch(/session/);
  });
});
