import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recomputeView } from '../../batch/index.ts';
import { RedisHll } from '../../shared/measures/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import type { ClickstreamEvent } from '../../shared/sources/index.ts';
import { countryMinutes, demoViews, pageViews, userSessions, viewRegistryOf } from '../../shared/views/index.ts';
import { startServer } from '../../serving/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import {
  archiveUntil,
  createTopic,
  deleteTopics,
  produceClickstream,
  tempDir,
  testConfig,
  testKafka,
  testLogger,
  testRedis,
  testServingApp,
  uniqueName,
  waitFor,
  waitUntilSpeedCaughtUp,
} from '../harness/index.ts';
import { addRevenue, readTeedEvents, referenceSessions } from '../harness/reference.ts';

const START_MS = Date.parse('2026-05-01T00:00:00Z');
const MINUTE = 60_000;
const HOUR = 3_600_000;
const CUTOFF_MS = START_MS + 60 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();

type Cell = { views: number; users: Set<string>; revenue: number | null };

/** Independent reference over the raw events: no Braid code but the HLL codec (Redis's own sketch, tested against Redis). */
function pagesBy(events: ClickstreamEvent[], bucketMs: number, urls?: ReadonlySet<string>): Map<string, Cell> {
  const cells = new Map<string, Cell>();
  for (const event of events) {
    if (urls && !urls.has(event.url)) continue;
    const key = `${iso(Math.floor(event.ts / bucketMs) * bucketMs)}|${event.url}`;
    const cell = cells.get(key) ?? { views: 0, users: new Set(), revenue: null };
    cell.views++;
    cell.users.add(event.user_id);
    cell.revenue = addRevenue(cell.revenue, event.revenue);
    cells.set(key, cell);
  }
  return cells;
}

function countriesBy(events: ClickstreamEvent[]): Map<string, { views: number; revenue: number | null }> {
  const cells = new Map<string, { views: number; revenue: number | null }>();
  for (const event of events) {
    const minute = Math.floor(event.ts / MINUTE) * MINUTE;
    for (let start = minute - 4 * MINUTE; start <= minute; start += MINUTE) {
      const key = `${iso(start)}|${event.country}`;
      const cell = cells.get(key) ?? { views: 0, revenue: null };
      cell.views++;
      cell.revenue = addRevenue(cell.revenue, event.revenue);
      cells.set(key, cell);
    }
  }
  return cells;
}

const near = (actual: unknown, expected: number | null) =>
  expected === null ? actual === null : typeof actual === 'number' && Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected));

function hllCount(users: Set<string>): number {
  const sketch = RedisHll.empty();
  for (const user of users) sketch.add(user);
  return sketch.count();
}

type Row = Record<string, unknown>;

/** Every row equals its reference cell and every reference cell in range has a row. */
function expectPages(rows: Row[], reference: Map<string, Cell>, inRange: (start: number) => boolean, what: string) {
  const expected = [...reference].filter(([key]) => inRange(Date.parse(key.split('|')[0]!)));
  expect(rows.length, what).toBe(expected.length);
  for (const row of rows) {
    const want = reference.get(`${row.windowStart}|${row.url}`);
    expect(want, `${what}: ${row.windowStart} ${row.url}`).toBeDefined();
    expect(row.views, `${what}: views ${row.windowStart} ${row.url}`).toBe(want!.views);
    expect(row.visitors, `${what}: visitors ${row.windowStart} ${row.url}`).toBe(hllCount(want!.users));
    expect(near(row.revenue, want!.revenue), `${what}: revenue ${row.revenue} vs ${want!.revenue}`).toBe(true);
  }
}

describe('serving: the braid of batch and speed equals a computation over all events', () => {
  it('answers any range, granularity and filter exactly: before a batch exists, after a publish, across the cutoff, after speed expiry; SSE pushes after a flush', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'serving', partitions: 2 });
    await using redis = testRedis();
    using dir = tempDir('braid-serving-');
    const config = testConfig({
      'redis.keyPrefix': redis.prefix,
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('serving'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': 2,
      'archive.flushIntervalMs': 200,
      'speed.flushIntervalMs': 200,
      'serving.development': true,
      'serving.port': 0,
      'serving.limits.requestsPerSecond': 0,
    });
    const tee = path.join(dir.path, 'events.jsonl');
    // Disorder inside the bound and no late events: both layers count every event.
    await produceClickstream(kafka, topic.topic, {
      partitions: 2,
      generator: { seed: 5, disorderMs: 2_000, users: 400, urls: 40 },
      count: 6_000,
      startMs: START_MS,
      spanMs: 2 * HOUR,
      teeFile: tee,
    });
    const events = readTeedEvents(tee);

    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry: createMetricsRegistry('speed') });
    try {
      await archiveUntil(config, kafka, topic.topic, 6_000);
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
      await using serving = await testServingApp(config);
      const graphql = async (query: string): Promise<Record<string, { rows: Row[]; meta: Row }>> => {
        const response = await serving.app.request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
        const body = (await response.json()) as { data?: Record<string, { rows: Row[]; meta: Row }>; errors?: unknown };
        expect(body.errors, query).toBeUndefined();
        return body.data!;
      };
      const pageFields = 'rows { windowStart windowEnd url views visitors revenue } meta { batchVersion batchCutoff speedWatermark layers partial missing { from to } }';
      const all = { from: START_MS - HOUR, to: START_MS + 3 * HOUR };
      const minutes = pagesBy(events, MINUTE);

      // Before any batch version: everything comes from the speed layer.
      const before = (await graphql(`{ pageViews(from: "${iso(all.from)}", to: "${iso(all.to)}") { ${pageFields} } }`)).pageViews!;
      expect(before.meta).toMatchObject({ batchVersion: null, batchCutoff: null, layers: ['SPEED'], partial: false });
      expectPages(before.rows, minutes, () => true, 'before a batch');

      for (const view of [pageViews, countryMinutes, userSessions]) await recomputeView({ config, view, cutoffMs: CUTOFF_MS });

      // Straddling the cutoff: windows ending at or before it from batch (the handshake took them out of speed), the rest from speed.
      const straddle = (await graphql(`{ pageViews(from: "${iso(all.from)}", to: "${iso(all.to)}") { ${pageFields} } }`)).pageViews!;
      expect(straddle.meta).toMatchObject({ batchVersion: 1, batchCutoff: iso(CUTOFF_MS), layers: ['BATCH', 'SPEED'], partial: false });
      expectPages(straddle.rows, minutes, () => true, 'across the cutoff');

      // Entirely in batch, entirely in speed.
      const inBatch = (await graphql(`{ pageViews(from: "${iso(START_MS)}", to: "${iso(START_MS + 30 * MINUTE)}") { ${pageFields} } }`)).pageViews!;
      expect(inBatch.meta.layers).toEqual(['BATCH']);
      expectPages(inBatch.rows, minutes, (start) => start >= START_MS && start < START_MS + 30 * MINUTE, 'batch only');
      const inSpeed = (await graphql(`{ pageViews(from: "${iso(START_MS + 90 * MINUTE)}", to: "${iso(all.to)}") { ${pageFields} } }`)).pageViews!;
      expect(inSpeed.meta.layers).toEqual(['SPEED']);
      expectPages(inSpeed.rows, minutes, (start) => start >= START_MS + 90 * MINUTE, 'speed only');

      // Coarser granularity with a filter: hourly buckets merge minutes of both layers (visitors: the HLL union).
      const urls = [...new Set(events.map((event) => event.url))].slice(0, 3);
      const hourly = (
        await graphql(
          `{ pageViews(from: "${iso(START_MS + 30 * MINUTE)}", to: "${iso(START_MS + 100 * MINUTE)}", granularity: "1h", where: { url: { in: ${JSON.stringify(urls)} } }, limit: 1000) { ${pageFields} } }`,
        )
      ).pageViews!;
      expect(hourly.meta.layers).toEqual(['BATCH', 'SPEED']);
      // The range grows to whole hours: [START, START + 2h).
      expectPages(hourly.rows, pagesBy(events, HOUR, new Set(urls)), (start) => start >= START_MS && start < START_MS + 2 * HOUR, 'hourly, filtered');
      for (const row of hourly.rows) expect(Date.parse(row.windowEnd as string) - Date.parse(row.windowStart as string)).toBe(HOUR);

      // REST answers exactly as GraphQL.
      const rest = (await (
        await serving.app.request(`/v1/views/page_views?from=${iso(START_MS + 30 * MINUTE)}&to=${iso(START_MS + 100 * MINUTE)}&granularity=1h&url=${urls.map(encodeURIComponent).join(',')}`)
      ).json()) as { rows: Row[]; meta: Row };
      expect(rest.rows).toEqual(hourly.rows);
      expect(rest.meta).toMatchObject({ batchVersion: 1, batchCutoff: iso(CUTOFF_MS), layers: ['batch', 'speed'] });

      // Sliding windows straddling the cutoff: those ending after it come whole from speed.
      const countries = (
        await graphql(`{ countryMinutes(from: "${iso(all.from)}", to: "${iso(all.to)}", limit: 10000) { rows { windowStart country views revenue } meta { layers } } }`)
      ).countryMinutes!;
      const countryReference = countriesBy(events);
      expect(countries.meta.layers).toEqual(['BATCH', 'SPEED']);
      expect(countries.rows.length).toBe(countryReference.size);
      for (const row of countries.rows) {
        const want = countryReference.get(`${row.windowStart}|${row.country}`);
        expect(want, `country_minutes ${row.windowStart} ${row.country}`).toBeDefined();
        expect(row.views).toBe(want!.views);
        expect(near(row.revenue, want!.revenue)).toBe(true);
      }

      // Sessions: one that ends at or before the cutoff is batch's, one that ends after it is speed's, whole.
      const sessions = (
        await graphql(`{ userSessions(from: "${iso(all.from)}", to: "${iso(all.to)}", limit: 10000) { rows { windowStart windowEnd user_id events revenue } meta { layers } } }`)
      ).userSessions!;
      const sessionReference = referenceSessions(events, 30 * MINUTE, iso);
      expect(sessions.rows.length).toBe(sessionReference.size);
      for (const row of sessions.rows) {
        const want = sessionReference.get(`${row.windowStart}|${row.user_id}`);
        expect(want, `session ${row.windowStart} ${row.user_id}`).toBeDefined();
        expect(row.windowEnd).toBe(iso(want!.end));
        expect(row.events).toBe(want!.events);
        expect(near(row.revenue, want!.revenue)).toBe(true);
      }
      const sessionLayers = new Set<string>(sessions.rows.map((row) => (Date.parse(row.windowEnd as string) <= CUTOFF_MS ? 'BATCH' : 'SPEED')));
      expect(sessions.meta.layers).toEqual(['BATCH', 'SPEED'].filter((layer) => sessionLayers.has(layer)));

      // One layer alone, for debugging: batch stops at its cutoff and says the rest is missing.
      const batchOnly = (await graphql(`{ pageViews(from: "${iso(all.from)}", to: "${iso(all.to)}", layer: BATCH) { ${pageFields} } }`)).pageViews!;
      expectPages(batchOnly.rows, minutes, (start) => start < CUTOFF_MS, 'batch layer alone');
      expect(batchOnly.meta).toMatchObject({ partial: true, missing: [{ from: iso(CUTOFF_MS), to: iso(all.to) }] });

      // Speed data expired before a batch covered it: the answer says which range is missing instead of shrinking silently.
      const keys = new SpeedKeys(redis.prefix);
      const lost = [START_MS + 70 * MINUTE, START_MS + 71 * MINUTE];
      for (const start of lost) await redis.del(keys.window(pageViews.name, start));
      const gappy = (await graphql(`{ pageViews(from: "${iso(all.from)}", to: "${iso(all.to)}", limit: 9999) { ${pageFields} } }`)).pageViews!;
      expect(gappy.meta).toMatchObject({ partial: true, missing: [{ from: iso(lost[0]!), to: iso(lost[1]! + MINUTE) }] });
      expectPages(gappy.rows, minutes, (start) => !lost.includes(start), 'after speed expiry');
      // The same through the filtered read path (only the pinned groups' fields are fetched).
      const gappyFiltered = (await graphql(`{ pageViews(from: "${iso(all.from)}", to: "${iso(all.to)}", where: { url: { in: ${JSON.stringify(urls)} } }, limit: 9998) { ${pageFields} } }`)).pageViews!;
      expect(gappyFiltered.meta).toMatchObject({ partial: true, missing: [{ from: iso(lost[0]!), to: iso(lost[1]! + MINUTE) }] });
      expectPages(gappyFiltered.rows, pagesBy(events, MINUTE, new Set(urls)), (start) => !lost.includes(start), 'after speed expiry, filtered');

      // SSE subscription over a real listening server: an update arrives after the speed layer flushes new events.
      const server = await startServer({ config, views: viewRegistryOf(demoViews), logger: testLogger });
      const abort = new AbortController();
      try {
        const response = await fetch(`${server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ query: `subscription { pageViewsUpdated(from: "${iso(START_MS + 90 * MINUTE)}", to: "${iso(all.to)}", limit: 10000) { rows { views } meta { speedWatermark } } }` }),
          signal: abort.signal,
        });
        expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
        const totals: number[] = [];
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        const nextTotal = async (): Promise<number> => {
          for (;;) {
            const end = buffer.indexOf('\n\n');
            if (end >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const data = block.split('\n').find((line) => line.startsWith('data:'));
              if (!data) continue;
              const payload = JSON.parse(data.slice(5)) as { data: { pageViewsUpdated: { rows: Array<{ views: number }> } } };
              return payload.data.pageViewsUpdated.rows.reduce((sum, row) => sum + row.views, 0);
            }
            const { value, done } = await reader.read();
            if (done) throw new Error('the event stream ended');
            buffer += value;
          }
        };
        totals.push(await nextTotal());
        expect(totals[0]).toBe(events.filter((event) => event.ts >= START_MS + 90 * MINUTE).length);
        await produceClickstream(kafka, topic.topic, {
          partitions: 2,
          generator: { seed: 6, disorderMs: 0, users: 50, urls: 5 },
          count: 200,
          startMs: START_MS + 2 * HOUR,
          spanMs: 5 * MINUTE,
        });
        await waitFor(async () => (totals.push(await nextTotal()), totals.at(-1) === totals[0]! + 200), { timeoutMs: 30_000, what: 'an SSE update with the 200 new events' });
      } finally {
        abort.abort();
        await server.close();
      }
    } finally {
      await worker.stop();
      await deleteTopics(kafka, [`${topic.topic}.dlq`, `${topic.topic}.late`]);
    }
  });
});
