import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import type { ClickstreamEvent } from '../../shared/sources/index.ts';
import { countryMinutes, demoViews, pageViews, userSessions } from '../../shared/views/index.ts';
import { readSpeedView, speedGroupId } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { createTopic, deleteTopics, produceClickstream, tempDir, testKafka, testRedis, uniqueName, waitFor } from '../harness/index.ts';
import { addRevenue, readTeedEvents, referenceSessions } from '../harness/reference.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const START_MS = Date.parse('2026-03-01T00:00:00Z');
const MINUTE = 60_000;

/** Independent reference: plain aggregation of the produced events, written without any speed-layer code. */
function reference(events: ClickstreamEvent[]) {
  const pages = new Map<string, { views: number; users: Set<string>; revenue: number | null }>();
  const countries = new Map<string, { views: number; revenue: number | null }>();
  for (const event of events) {
    const minute = Math.floor(event.ts / MINUTE) * MINUTE;
    const page = pages.get(`${minute}|${event.url}`) ?? { views: 0, users: new Set(), revenue: null };
    page.views++;
    page.users.add(event.user_id);
    page.revenue = addRevenue(page.revenue, event.revenue);
    pages.set(`${minute}|${event.url}`, page);
    for (let start = minute - 4 * MINUTE; start <= minute; start += MINUTE) {
      const cell = countries.get(`${start}|${event.country}`) ?? { views: 0, revenue: null };
      cell.views++;
      cell.revenue = addRevenue(cell.revenue, event.revenue);
      countries.set(`${start}|${event.country}`, cell);
    }
  }
  const sessions = referenceSessions(events, 30 * MINUTE);
  return { pages, countries, sessions };
}

const close = (actual: unknown, expected: number | null) =>
  expected === null ? actual === null : typeof actual === 'number' && Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected));

describe('npx braid speed fills the demo views', () => {
  it('page_views, country_minutes and user_sessions match an independent computation over the produced events', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'demo-views', partitions: 4 });
    await using redis = testRedis();
    using dir = tempDir();
    const tee = path.join(dir.path, 'events.jsonl');
    const clientId = uniqueName('demo');
    // Disorder below the 5 s bound and no late events: nothing is late, so every valid event counts.
    await produceClickstream(kafka, topic.topic, {
      partitions: 4,
      generator: { seed: 21, disorderMs: 3_000, badFraction: 0.002, users: 2_000, urls: 300 },
      count: 20_000,
      startMs: START_MS,
      spanMs: 3 * 3_600_000,
      teeFile: tee,
    });
    const configFile = path.join(dir.path, 'braid.config.yaml');
    writeFileSync(configFile, `kafka:\n  clientId: ${clientId}\nredis:\n  keyPrefix: "${redis.prefix}"\nsources:\n  clickstream:\n    topic: ${topic.topic}\nspeed:\n  flushIntervalMs: 200\n`);
    const worker = spawn(process.execPath, [BRAID, '--config', configFile, 'speed'], {
      env: { ...process.env, KAFKA_BROKERS: inject('kafkaBrokers').join(','), REDIS_URL: inject('redisUrl'), BRAID_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const keys = new SpeedKeys(redis.prefix);
      const group = speedGroupId(clientId, 'clickstream', demoViews, demoViews);
      await waitFor(
        async () => {
          const offsets = Object.entries(await redis.hgetall(keys.partitions(group))).filter(([field]) => field.startsWith('o:'));
          return offsets.reduce((sum, [, offset]) => sum + Number(offset), 0) === 20_000;
        },
        { timeoutMs: 90_000, intervalMs: 200, what: 'the worker to consume all 20,000 messages' },
      );
      // A long-running process serves Prometheus metrics: the worker's own counters are there and add up.
      const metricsUrl = /metrics on (http:\/\/\S+\/metrics)/.exec(stderr)?.[1];
      expect(metricsUrl, stderr).toBeDefined();
      // The offsets reach Redis inside a flush round, whose duration is recorded once the round (its Kafka commit too) ends.
      const metrics = await waitFor(
        async () => {
          const text = await (await fetch(metricsUrl!)).text();
          return /^braid_speed_flush_duration_seconds_count\{/m.test(text) ? text : undefined;
        },
        { timeoutMs: 10_000, what: 'a finished flush round in the metrics' },
      );
      const counter = (name: string) =>
        metrics
          .split('\n')
          .filter((line) => line.startsWith(`${name}{`))
          .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      expect(counter('braid_speed_events_in_total') + counter('braid_speed_dead_lettered_total')).toBe(20_000);
      expect(counter('braid_speed_late_events_total')).toBe(0);
      expect(metrics).toMatch(/^braid_speed_watermark_ms\{/m);
      // The windows the watermark has not closed (the last ones) keep their visitors' sketches in memory.
      expect(counter('braid_speed_held_sketches')).toBeGreaterThan(0);
      expect(metrics).toMatch(/^braid_speed_flush_duration_seconds_count\{/m);
    } finally {
      const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      await deleteTopics(kafka, [`${topic.topic}.dlq`, `${topic.topic}.late`]);
    }

    const events = readTeedEvents(tee);
    expect(events.length).toBeGreaterThan(19_900);
    const expected = reference(events);
    const target = { redis, keys: new SpeedKeys(redis.prefix), maxOutOfOrdernessMs: 5_000, idleTimeoutMs: 30_000 };
    const range = { fromMs: START_MS - 3_600_000, toMs: START_MS + 5 * 3_600_000 };

    const pages = await readSpeedView(target, pageViews, range);
    expect(pages.rows.length).toBe(expected.pages.size);
    let distinctErrors = 0;
    for (const row of pages.rows) {
      const want = expected.pages.get(`${row.windowStart}|${row.dimensions.url}`);
      expect(want, `page_views ${row.windowStart} ${row.dimensions.url}`).toBeDefined();
      expect(row.measures.views).toBe(want!.views);
      expect(close(row.measures.revenue, want!.revenue), `revenue ${row.measures.revenue} vs ${want!.revenue}`).toBe(true);
      // HyperLogLog: 0.81 % standard error; allow 3 standard errors (and ±1 for tiny counts).
      const error = Math.abs((row.measures.visitors as number) - want!.users.size);
      if (error > Math.max(1, 0.0243 * want!.users.size)) distinctErrors++;
    }
    expect(distinctErrors).toBe(0);
    expect(pages.watermarkMs).toBeGreaterThan(START_MS);

    const countries = await readSpeedView(target, countryMinutes, range);
    expect(countries.rows.length).toBe(expected.countries.size);
    for (const row of countries.rows) {
      const want = expected.countries.get(`${row.windowStart}|${row.dimensions.country}`);
      expect(want, `country_minutes ${row.windowStart} ${row.dimensions.country}`).toBeDefined();
      expect(row.measures.views).toBe(want!.views);
      expect(close(row.measures.revenue, want!.revenue)).toBe(true);
    }

    const sessions = await readSpeedView(target, userSessions, range);
    expect(sessions.rows.length).toBe(expected.sessions.size);
    for (const row of sessions.rows) {
      const want = expected.sessions.get(`${row.windowStart}|${row.dimensions.user_id}`);
      expect(want, `user_sessions ${row.windowStart} ${row.dimensions.user_id}`).toBeDefined();
      expect(row.windowEnd).toBe(want!.end);
      expect(row.measures.events).toBe(want!.events);
      expect(close(row.measures.revenue, want!.revenue)).toBe(true);
    }
  });
});
