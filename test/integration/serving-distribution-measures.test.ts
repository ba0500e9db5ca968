import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recomputeView } from '../../batch/index.ts';
import { QUANTILE_RELATIVE_ERROR, quantiles, stddev } from '../../shared/measures/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import type { ClickstreamEvent } from '../../shared/sources/index.ts';
import { defineView, tumbling } from '../../shared/views/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import {
  archiveUntil,
  createTopic,
  produceClickstream,
  tempDir,
  testConfig,
  testKafka,
  testLogger,
  testRedis,
  testServingApp,
  uniqueName,
  waitUntilSpeedCaughtUp,
} from '../harness/index.ts';
import { readTeedEvents } from '../harness/reference.ts';

const START_MS = Date.parse('2026-05-01T00:00:00Z');
const MINUTE = 60_000;
const HOUR = 3_600_000;
const CUTOFF_MS = START_MS + 60 * MINUTE;
const FRACTIONS = [0.5, 0.9, 0.99];
const iso = (ms: number) => new Date(ms).toISOString();

const revenueSpread = defineView({
  name: 'revenue_spread',
  source: 'clickstream',
  groupBy: ['country'],
  window: tumbling('1m'),
  measures: { spread: stddev('revenue'), revenue_q: quantiles('revenue', FRACTIONS) },
});

type Row = { windowStart: string; country: string; spread: number | null; revenue_q: Array<{ quantile: number; value: number }> };

/** Independent reference: each bucket's revenues, by `<start>|<country>`. */
function revenuesBy(events: ClickstreamEvent[], bucketMs: number): Map<string, number[]> {
  const cells = new Map<string, number[]>();
  for (const event of events) {
    const key = `${iso(Math.floor(event.ts / bucketMs) * bucketMs)}|${event.country}`;
    const cell = cells.get(key) ?? [];
    if (event.revenue !== null && event.revenue !== undefined) cell.push(event.revenue);
    cells.set(key, cell);
  }
  return cells;
}

function exactStddev(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const mean = values.reduce((total, value) => total + value, 0) / values.length;
  return Math.sqrt(values.reduce((total, value) => total + (value - mean) ** 2, 0) / (values.length - 1));
}

/** Each row's stddev and quantiles equal the reference's (the quantiles within their stated error); every reference cell in range has a row. */
function expectDistributions(rows: Row[], reference: Map<string, number[]>, inRange: (start: number) => boolean, what: string): void {
  expect(rows.length, what).toBe([...reference.keys()].filter((key) => inRange(Date.parse(key.split('|')[0]!))).length);
  for (const row of rows) {
    const values = reference.get(`${row.windowStart}|${row.country}`);
    expect(values, `${what}: ${row.windowStart} ${row.country}`).toBeDefined();
    const spread = exactStddev(values!);
    if (spread === null) expect(row.spread, `${what}: spread ${row.windowStart} ${row.country}`).toBeNull();
    else expect(Math.abs(row.spread! - spread), `${what}: spread ${row.spread} vs ${spread}`).toBeLessThanOrEqual(1e-9 * Math.max(1, spread));
    const sorted = [...values!].sort((a, b) => a - b);
    const exact = sorted.length === 0 ? [] : FRACTIONS.map((quantile) => ({ quantile, value: sorted[Math.floor(quantile * (sorted.length - 1))]! }));
    expect(row.revenue_q.map((entry) => entry.quantile), `${what}: quantiles ${row.windowStart} ${row.country}`).toEqual(exact.map((entry) => entry.quantile));
    row.revenue_q.forEach((entry, index) => {
      const truth = exact[index]!.value;
      expect(Math.abs(entry.value - truth), `${what}: q${entry.quantile} ${entry.value} vs ${truth}`).toBeLessThanOrEqual(QUANTILE_RELATIVE_ERROR * Math.abs(truth));
    });
  }
}

describe('serving: distribution measures (stddev, quantiles) braid batch and speed', () => {
  it('answer every minute and every hour across the batch cutoff as a computation over all events does', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'distribution', partitions: 2 });
    await using redis = testRedis();
    using dir = tempDir('braid-distribution-');
    const config = testConfig({
      'redis.keyPrefix': redis.prefix,
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('distribution'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 2,
      'archive.flushIntervalMs': 200,
      'speed.flushIntervalMs': 200,
      'serving.development': true,
      'serving.port': 0,
      'serving.limits.requestsPerSecond': 0,
    });
    const tee = path.join(dir.path, 'events.jsonl');
    await produceClickstream(kafka, topic.topic, {
      partitions: 2,
      generator: { seed: 9, disorderMs: 2_000, users: 300, urls: 20 },
      count: 4_000,
      startMs: START_MS,
      spanMs: 2 * HOUR,
      teeFile: tee,
    });
    const events = readTeedEvents(tee);
    expect(events.filter((event) => event.revenue !== null).length).toBeGreaterThan(100);

    const worker = await SpeedWorker.start({ config, views: [revenueSpread], logger: testLogger, registry: createMetricsRegistry('speed') });
    try {
      await archiveUntil(config, kafka, topic.topic, 4_000);
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, [revenueSpread]);
      await recomputeView({ config, view: revenueSpread, cutoffMs: CUTOFF_MS });
      await using serving = await testServingApp(config, [revenueSpread]);
      const fields = 'rows { windowStart country spread revenue_q { quantile value } } meta { layers }';
      const graphql = async (args: string) => {
        const response = await serving.app.request('/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: `{ revenueSpread(${args}, limit: 10000) { ${fields} } }` }),
        });
        const body = (await response.json()) as { data?: { revenueSpread: { rows: Row[]; meta: { layers: string[] } } }; errors?: unknown };
        expect(body.errors, args).toBeUndefined();
        return body.data!.revenueSpread;
      };

      const minutes = await graphql(`from: "${iso(START_MS - HOUR)}", to: "${iso(START_MS + 3 * HOUR)}"`);
      expect(minutes.meta.layers).toEqual(['BATCH', 'SPEED']);
      expectDistributions(minutes.rows, revenuesBy(events, MINUTE), () => true, 'minutes across the cutoff');

      // Hours whose minutes come from both layers: batch states and speed states merge in the roll-up.
      const hours = await graphql(`from: "${iso(START_MS + 30 * MINUTE)}", to: "${iso(START_MS + 100 * MINUTE)}", granularity: "1h"`);
      expect(hours.meta.layers).toEqual(['BATCH', 'SPEED']);
      expectDistributions(hours.rows, revenuesBy(events, HOUR), (start) => start >= START_MS && start < START_MS + 2 * HOUR, 'hours');

      // REST answers as GraphQL does.
      const rest = (await (await serving.app.request(`/v1/views/revenue_spread?from=${iso(START_MS + 30 * MINUTE)}&to=${iso(START_MS + 100 * MINUTE)}&granularity=1h`)).json()) as {
        rows: Row[];
      };
      expect(rest.rows.map(({ windowStart, country, spread, revenue_q }) => ({ windowStart, country, spread, revenue_q }))).toEqual(hours.rows);
    } finally {
      await worker.stop();
    }
  });
});
