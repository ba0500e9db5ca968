import { describe, expect, it } from 'vitest';
import type { Principal } from '../../serving/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews, pageViews } from '../../shared/views/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { createTopic, produceClickstream, testConfig, testKafka, testLogger, testRedis, testServingApp, uniqueName, waitFor, waitUntilSpeedCaughtUp } from '../harness/index.ts';

const MINUTE = 60_000;
const caller: Principal = { name: 'dashboard', kind: 'anonymous', roles: [] };

/** The cells the server has read for page_views so far (its read-cells counter). */
async function cellsRead(serving: { app: { request(path: string): Response | Promise<Response> } }): Promise<number> {
  const metrics = await (await serving.app.request('/metrics')).text();
  return Number(/braid_serving_read_cells_total\{[^}]*view="page_views"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

describe('serving: subscriptions', () => {
  it('re-read after a flush only the windows that may still change, and push what a fresh read answers', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'subscription-reads', partitions: 2 });
    await using redis = testRedis();
    const base = {
      'redis.keyPrefix': redis.prefix,
      'kafka.clientId': uniqueName('subscription-reads'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 2,
      'speed.flushIntervalMs': 200,
      'serving.development': true,
      'serving.cacheEntries': 0,
    };
    const config = testConfig(base);
    const now = Date.now();
    // An hour of traffic up to now, on both partitions.
    await produceClickstream(kafka, topic.topic, { partitions: 2, generator: { seed: 5, users: 500, urls: 50 }, count: 6_000, startMs: now - 60 * MINUTE, spanMs: 60 * MINUTE - 2_000 });
    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry: createMetricsRegistry('speed') });
    try {
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
      await using serving = await testServingApp(config);
      const input = { last: '70m', limit: 5_000 };
      const updates = serving.service.watch(pageViews, input, { principal: caller })[Symbol.asyncIterator]();
      try {
        const before = await cellsRead(serving);
        const first = await updates.next();
        const firstCells = (await cellsRead(serving)) - before;
        expect(first.done).toBe(false);
        expect(firstCells).toBeGreaterThan(1_000);
        const viewsOf = (answer: { rows: ReadonlyArray<{ measures: Readonly<Record<string, unknown>> }> }) => answer.rows.reduce((total, row) => total + Number(row.measures.views), 0);

        // New events now: the next flush ticks the subscription.
        await produceClickstream(kafka, topic.topic, { partitions: 2, generator: { seed: 6, users: 500, urls: 50 }, count: 200, startMs: Date.now() - 3_000, spanMs: 2_000 });
        await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
        let latest = first.value;
        let pushes = 0;
        const cellsBefore = await cellsRead(serving);
        await waitFor(
          async () => {
            latest = (await updates.next()).value;
            pushes++;
            return viewsOf(latest) === viewsOf(first.value) + 200;
          },
          { timeoutMs: 30_000, intervalMs: 0, what: 'a pushed update with the new events' },
        );
        const perPush = ((await cellsRead(serving)) - cellsBefore) / pushes;
        // Only the last few minutes (windows within the watermark's reach plus the allowed lateness) are read again.
        expect(perPush).toBeLessThan(firstCells / 5);

        // What was pushed is what a read from scratch answers.
        const fresh = await serving.service.answer(pageViews, input, { principal: caller });
        expect(latest.rows).toEqual(fresh.rows);
        expect(latest.meta).toMatchObject({ partial: fresh.meta.partial, missing: fresh.meta.missing, layers: fresh.meta.layers });
      } finally {
        await updates.return?.();
      }
    } finally {
      await worker.stop();
    }
  });
});
