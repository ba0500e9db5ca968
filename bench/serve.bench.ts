/**
 * Serving under load: the dashboard query of issue #5 (page_views, the last
 * hour, per-minute rows, one URL) via REST and GraphQL, next to a minimal hono
 * handler that reads the same Redis keys, all served by @hono/node-server on
 * loopback and loaded by autocannon from a child process (bench/lib/load-generator.ts),
 * so the load generator never shares the servers' event loop.
 *
 * - Throughput: autocannon at saturation, the endpoints interleaved, best of
 *   SATURATION_ROUNDS. `*_ratio` = Braid ÷ the minimal handler (HMGET of the
 *   URL's fields in each window hash, as Braid reads them for a filter that
 *   pins every dimension). Also: Braid without its response cache, Braid with
 *   the range pinned to whole minutes, and a hand-written handler that fetches
 *   whole window hashes (HGETALL).
 * - Latency at 1,000 req/s: autocannon `overallRate` (`*_p50_ms_at_1000`,
 *   `*_p99_ms_at_1000`), percentiles of the answers' own durations (autocannon's
 *   histogram keeps whole ms). `overallRate` is closed-loop in bursts: each
 *   connection sends its share of the second back to back and then waits, so
 *   these figures depend on the connection count. `*_paced_*` is an open-loop
 *   run (one request every ms, like wrk2), skipped when the endpoint cannot
 *   sustain the rate; `*_answered_req_per_s_at_1000` says what autocannon got.
 * - Every answer must be a 2xx whose body carries the rows (checked in the
 *   load generator); before the load, all endpoints must give the same rows
 *   for the same pinned hour.
 */
import type { Server } from 'node:http';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { Redis } from 'ioredis';
import { stackUp } from '../infra/stack/index.ts';
import { startServer, type RunningServer } from '../serving/index.ts';
import { createKafkaClient, createRedisClient, ensureTopics } from '../shared/clients/index.ts';
import { loadConfig, type Config } from '../shared/config/index.ts';
import { ClickstreamGenerator, produceDemo } from '../shared/demo/index.ts';
import { createLogger, type Logger } from '../shared/logging/index.ts';
import { createMetricsRegistry, type Registry } from '../shared/metrics/index.ts';
import { demoViews, pageViews, viewRegistryOf, windowSizeMs } from '../shared/views/index.ts';
import { SpeedWorker, speedGroupId } from '../speed/index.ts';
import { SpeedKeys } from '../shared/speed-contract/index.ts';
import { PartitionSketch } from '../shared/measures/index.ts';
import { FIELD_SEPARATOR, ROW_COUNT } from '../shared/speed-contract/index.ts';
import { RedisHll, REDIS_HLL_REGISTER_COUNT } from '../shared/measures/index.ts';
import { defineBenchmark } from './lib/benchmark.ts';
import { LoadGenerator, type LoadResult, type LoadTarget } from './lib/load-generator.ts';
import { deleteKeysWithPrefix } from './lib/redis-cleanup.ts';
import { waitUntilCaughtUp } from './lib/speed-catch-up.ts';

// The data: a clickstream over the last ~70 minutes up to now, so "the last hour" is all there.
const EVENTS = 80_000;
const SPAN_MS = 70 * 60_000;
const URLS = 300;
const PARTITIONS = 4;
const CATCH_UP_TIMEOUT_MS = 120_000;

// The dashboard query: page_views, last hour, per-minute rows, one URL.
const VIEW = pageViews.name;
const WINDOW_MS = windowSizeMs(pageViews.window);
const HOUR_MS = 3_600_000;
/** The second most viewed URL of the demo clickstream: present in every minute. */
const FILTER_URL = '/search';
/** Fewer rows than this in the last hour means the data is not what the benchmark meant to query. */
const MIN_ROWS = 55;

// The load. Two cores run the server, Redis and the load generator: a few connections keep the one-threaded server busy.
const SATURATION_CONNECTIONS = 8;
const SATURATION_S = 7;
const SATURATION_ROUNDS = 2;
const WARM_UP_S = 2;
const FIXED_RATE_PER_S = 1_000;
const FIXED_RATE_S = 6;
/** autocannon's default; `overallRate` splits the rate over them. */
const FIXED_RATE_CONNECTIONS = 10;
const PACED_MAX_SOCKETS = 64;
/** The open-loop run is skipped for an endpoint whose saturated throughput is below this × the rate: its queue would only grow. */
const PACED_HEADROOM = 1.1;
const PACED_GRACE_S = 2;
/** Longest wait after a run for the requests the server still holds to drain. */
const MAX_SETTLE_MS = 5_000;

// The issue's targets.
const REST_RATIO_TARGET = 0.8;
const GRAPHQL_RATIO_TARGET = 0.5;
const P99_TARGET_MS = 20;

const GRAPHQL_QUERY = (from: string, to?: string) =>
  `{ pageViews(from: "${from}"${to === undefined ? '' : `, to: "${to}"`}, granularity: "1m", where: { url: { eq: "${FILTER_URL}" } }) ` +
  '{ rows { windowStart windowEnd url views visitors revenue } } }';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

interface Row {
  readonly windowStart: string;
  readonly url: string;
  readonly views: number;
  readonly visitors: number;
  readonly revenue: number | null;
}

interface HttpServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves a fetch handler on 127.0.0.1 and a free port, as `braid serve` does (@hono/node-server). */
async function serveOnLoopback(fetch: (request: Request) => Response | Promise<Response>): Promise<HttpServer> {
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve({ fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started as Server)) as Server;
    started.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * What a competent engineer would write by hand for this one query, reading
 * the speed layer's keys directly: the window starts in range (ZRANGEBYSCORE),
 * then one pipeline with each window's cells and the URL's visitors sketches
 * (one per partition, merged and counted here). `/hmget/…` (the baseline) asks for just the URL's fields, since
 * their names are known (`<url>\x1f#`, `<url>\x1frevenue`), as Braid does when
 * a filter pins every dimension; `/hgetall/…` fetches each window hash whole.
 * Optional `from` and `to` (epoch ms) pin the range; the default is the last hour.
 */
function baselineApp(redis: Redis, keys: SpeedKeys, topic: string): Hono {
  const read = (cells: 'hgetall' | 'hmget') =>
    async function readPageViews(c: Context) {
      const url = c.req.query('url');
      if (url === undefined) return c.json({ error: 'url is required' }, 400);
      const toMs = Number(c.req.query('to') ?? Date.now());
      const fromMs = Number(c.req.query('from') ?? toMs - HOUR_MS);
      const starts = await redis.zrangebyscore(keys.windows(VIEW), fromMs, `(${toMs}`);
      const countField = `${url}${FIELD_SEPARATOR}${ROW_COUNT}`;
      const revenueField = `${url}${FIELD_SEPARATOR}revenue`;
      const sketchFields = Array.from({ length: PARTITIONS }, (_, partition) => SpeedKeys.sketchField(topic, partition, url));
      const pipeline = redis.pipeline();
      for (const start of starts) {
        const key = keys.window(VIEW, Number(start));
        if (cells === 'hgetall') pipeline.hgetall(key);
        else pipeline.hmget(key, countField, revenueField);
        pipeline.hmgetBuffer(keys.sketches(VIEW, Number(start), 'visitors'), ...sketchFields);
      }
      const replies = (await pipeline.exec()) ?? [];
      const rows: Array<Record<string, unknown>> = [];
      starts.forEach((text, index) => {
        const [cellsError, stored] = replies[2 * index]!;
        const [sketchError, sketches] = replies[2 * index + 1]!;
        if (cellsError || sketchError) throw cellsError ?? sketchError;
        let views: string | null | undefined;
        let revenue: string | null | undefined;
        if (cells === 'hgetall') {
          const hash = stored as Record<string, string>;
          views = hash[countField];
          revenue = hash[revenueField];
        } else {
          [views, revenue] = stored as Array<string | null>;
        }
        if (views === undefined || views === null) return;
        const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
        for (const sketch of sketches as Array<Buffer | null>) if (sketch !== null) PartitionSketch.mergeInto(registers, sketch);
        const visitors = RedisHll.fromRegisters(registers).count();
        const start = Number(text);
        rows.push({
          windowStart: new Date(start).toISOString(),
          windowEnd: new Date(start + WINDOW_MS).toISOString(),
          url,
          views: Number(views),
          visitors,
          revenue: revenue === undefined || revenue === null ? null : Number(revenue),
        });
      });
      return c.json({ rows });
    };
  const app = new Hono();
  app.get(`/hgetall/${VIEW}`, read('hgetall'));
  app.get(`/hmget/${VIEW}`, read('hmget'));
  return app;
}

/** A load run is only worth its numbers if every answer was a 2xx with the expected body (unanswered requests of an overloaded server are latency, not errors). */
function assertClean(label: string, result: LoadResult): LoadResult {
  const bad = result.non2xx + result.errors + result.timeouts + result.mismatches;
  if (bad > 0 || result.ok === 0) {
    throw new Error(
      `${label}: ${result.ok} good answers, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts, ${result.unanswered} unanswered, ` +
        `${result.mismatches} unexpected bodies${result.mismatchSample ? ` (e.g. ${JSON.stringify(result.mismatchSample)})` : ''}`,
    );
  }
  return result;
}

async function getJson(url: string, init?: RequestInit): Promise<unknown> {
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

/**
 * The load generator stops with requests still queued in the server; waits
 * about as long as they take, so they do not count against the next run.
 */
async function settle(result: LoadResult, connections: number): Promise<void> {
  await sleep(Math.min(MAX_SETTLE_MS, 200 + (1_500 * connections) / Math.max(1, result.reqPerS)));
}

/** Differences between two answers to the same query, as readable lines (none: they agree). */
function compareRows(label: string, expected: readonly Row[], actual: readonly Row[]): string[] {
  if (expected.length !== actual.length) return [`${label}: ${actual.length} rows, the minimal handler ${expected.length}`];
  const problems: string[] = [];
  expected.forEach((want, index) => {
    const got = actual[index]!;
    for (const field of ['windowStart', 'url', 'views', 'visitors', 'revenue'] as const) {
      const same = field === 'revenue' && want.revenue !== null && got.revenue !== null ? Math.abs(want.revenue - got.revenue) <= 1e-9 * Math.max(1, Math.abs(want.revenue)) : want[field] === got[field];
      if (!same) problems.push(`${label}: row ${index} ${field} ${JSON.stringify(got[field])}, the minimal handler ${JSON.stringify(want[field])}`);
    }
  });
  return problems;
}

/** Sum of a counter's values over all its labels. */
async function counterTotal(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/**
 * Serving: a typical dashboard query (page_views, last hour, per-minute rows,
 * one URL) under load from autocannon on loopback, via REST and GraphQL, next
 * to a minimal hono handler reading the same Redis keys, in the same run.
 */
export default defineBenchmark({
  name: 'serve',
  description: `a dashboard query (${VIEW}, last hour, per minute, url=${FILTER_URL}) via REST and GraphQL vs a minimal hono handler, under autocannon`,
  async run({ progress }) {
    const stack = await stackUp(loadConfig(), progress);
    const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const topic = `bench-serve-${suffix}`;
    const clientId = `bench-serve-${suffix}`;
    const keyPrefix = `bench-serve-${suffix}:`;
    const dataDir = mkdtempSync(join(tmpdir(), 'braid-bench-serve-'));
    const overrides = {
      dataDir,
      'kafka.brokers': stack.kafkaBrokers,
      'redis.url': stack.redisUrl,
      'kafka.clientId': clientId,
      'redis.keyPrefix': keyPrefix,
      'sources.clickstream.topic': topic,
      'sources.clickstream.partitions': PARTITIONS,
      'serving.port': 0,
      'serving.development': true,
      'serving.limits.requestsPerSecond': 0,
    };
    const config: Config = loadConfig({ overrides });
    const noCacheConfig: Config = loadConfig({ overrides: { ...overrides, 'serving.cacheEntries': 0 } });
    const logger: Logger = createLogger({ level: 'warn', name: 'bench' });
    const kafka = createKafkaClient({ brokers: stack.kafkaBrokers, clientId, logger });
    const redis = createRedisClient(stack.redisUrl, { name: 'braid-bench' });
    const keys = new SpeedKeys(keyPrefix);
    const group = speedGroupId(clientId, 'clickstream', [pageViews], [pageViews]);
    const views = viewRegistryOf([...demoViews]);
    const admin = kafka.admin();
    await admin.connect();
    let worker: SpeedWorker | undefined;
    const servers: Array<RunningServer | HttpServer> = [];
    let load: LoadGenerator | undefined;
    try {
      // ---- 1. Data: events over the last 70 minutes, through a speed worker into Redis ----------
      await ensureTopics(admin, [{ topic, partitions: PARTITIONS }]);
      progress(`producing ${EVENTS.toLocaleString()} clickstream events (${URLS} urls, event time: the last ${SPAN_MS / 60_000} min) into ${topic}…`);
      const nowMs = Date.now();
      const produced = await produceDemo({
        kafka,
        logger,
        registry: createMetricsRegistry('bench-serve-produce'),
        source: 'clickstream',
        topic,
        partitions: PARTITIONS,
        generator: new ClickstreamGenerator({ seed: 7, urls: URLS }),
        ratePerS: Infinity,
        count: EVENTS,
        startMs: nowMs - SPAN_MS,
        spanMs: SPAN_MS,
      });
      if (produced.sent !== EVENTS) throw new Error(`produced ${produced.sent} of ${EVENTS} events`);
      const ends = await admin.fetchTopicOffsets(topic);
      progress(`speed worker over ${VIEW}…`);
      const consumeStarted = performance.now();
      worker = await SpeedWorker.start({ config, views: [pageViews], logger, registry: createMetricsRegistry('bench-serve-speed') });
      await waitUntilCaughtUp(redis, keys, group, topic, ends, worker, CATCH_UP_TIMEOUT_MS);
      // Stopped before measuring: the numbers are the serving layer's alone, and the cache's key (speed progress) holds still.
      await worker.stop();
      worker = undefined;
      const windows = await redis.zcard(keys.windows(VIEW));
      const lastHour = await redis.zrangebyscore(keys.windows(VIEW), Date.now() - HOUR_MS, '+inf');
      const fieldsPerWindow = lastHour.length === 0 ? 0 : (await Promise.all(lastHour.map((start) => redis.hlen(keys.window(VIEW, Number(start)))))).reduce((a, b) => a + b, 0) / lastHour.length;
      progress(
        `speed worker caught up in ${((performance.now() - consumeStarted) / 1000).toFixed(1)} s and stopped: ${windows} windows of ${VIEW} in Redis, ` +
          `${lastHour.length} in the last hour with ${Math.round(fieldsPerWindow)} hash fields each on average`,
      );

      // ---- 2. Servers ----------------------------------------------------------------------------
      const braidRegistry = createMetricsRegistry('bench-serve');
      const braid = await startServer({ config, views, logger, registry: braidRegistry });
      servers.push(braid);
      const braidNoCache = await startServer({ config: noCacheConfig, views, logger, registry: createMetricsRegistry('bench-serve-nocache') });
      servers.push(braidNoCache);
      const baselineRedis = createRedisClient(stack.redisUrl, { name: 'braid-bench-baseline' });
      const baselineServer = await serveOnLoopback(baselineApp(baselineRedis, keys, topic).fetch);
      const baseline: HttpServer = {
        url: baselineServer.url,
        async close() {
          await baselineServer.close();
          await baselineRedis.quit().catch(() => baselineRedis.disconnect());
        },
      };
      servers.push(baseline);
      progress(`servers: braid ${braid.url} (cache ${config.serving.cacheEntries} entries), braid without cache ${braidNoCache.url}, minimal handler ${baseline.url}`);

      const filter = `url=${encodeURIComponent(FILTER_URL)}`;
      const restPath = `/v1/views/${VIEW}?from=now-1h&granularity=1m&${filter}`;
      const graphqlBody = JSON.stringify({ query: GRAPHQL_QUERY('now-1h') });
      // The last hour pinned to whole minutes, as a dashboard that rounds its range sends it: the same query for a minute.
      const toMs = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
      const fromMs = toMs - HOUR_MS;
      const pinned = `from=${fromMs}&to=${toMs}&${filter}`;
      // Every answer under load must carry the last hour's rows, not just any 200.
      const rowCheck = { text: '"windowStart":', atLeast: MIN_ROWS };
      const targets = {
        rest: { url: `${braid.url}${restPath}`, expectBodyPrefix: '{"rows":[{', expectOccurrences: rowCheck },
        graphql: {
          url: `${braid.url}/graphql`,
          method: 'POST',
          body: graphqlBody,
          headers: { 'content-type': 'application/json' },
          expectBodyPrefix: '{"data":{"pageViews":{"rows":[{',
          expectOccurrences: rowCheck,
        },
        // The baseline asks only for the URL's fields (HMGET), as Braid does for a filter that pins every dimension.
        baseline: { url: `${baseline.url}/hmget/${VIEW}?${filter}`, expectBodyPrefix: '{"rows":[{', expectOccurrences: rowCheck },
        rest_nocache: { url: `${braidNoCache.url}${restPath}`, expectBodyPrefix: '{"rows":[{', expectOccurrences: rowCheck },
        rest_pinned: { url: `${braid.url}/v1/views/${VIEW}?granularity=1m&${pinned}`, expectBodyPrefix: '{"rows":[{', expectOccurrences: rowCheck },
        baseline_hgetall: { url: `${baseline.url}/hgetall/${VIEW}?${filter}`, expectBodyPrefix: '{"rows":[{', expectOccurrences: rowCheck },
      } satisfies Record<string, LoadTarget>;

      // ---- 3. Same answers everywhere (a benchmark of wrong answers is worthless) ---------------
      const expected = ((await getJson(`${baseline.url}/hgetall/${VIEW}?${pinned}`)) as { rows: Row[] }).rows;
      const answers: Array<[string, Row[]]> = [
        ['minimal handler (HMGET)', ((await getJson(`${baseline.url}/hmget/${VIEW}?${pinned}`)) as { rows: Row[] }).rows],
        ['REST', ((await getJson(`${braid.url}/v1/views/${VIEW}?granularity=1m&${pinned}`)) as { rows: Row[] }).rows],
        ['REST without cache', ((await getJson(`${braidNoCache.url}/v1/views/${VIEW}?granularity=1m&${pinned}`)) as { rows: Row[] }).rows],
      ];
      const graphql = (await getJson(`${braid.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: GRAPHQL_QUERY(new Date(fromMs).toISOString(), new Date(toMs).toISOString()) }),
      })) as { data?: { pageViews: { rows: Row[] } }; errors?: unknown };
      if (!graphql.data || graphql.errors) throw new Error(`GraphQL answered with errors: ${JSON.stringify(graphql.errors)}`);
      answers.push(['GraphQL', graphql.data.pageViews.rows]);
      const problems = answers.flatMap(([label, rows]) => compareRows(label, expected, rows));
      if (problems.length > 0) throw new Error(`the answers differ:\n  ${problems.slice(0, 20).join('\n  ')}`);
      if (expected.length < MIN_ROWS) throw new Error(`only ${expected.length} rows for ${FILTER_URL} in the last hour; expected at least ${MIN_ROWS}`);
      progress(`all five agree on the pinned last hour: ${expected.length} rows for ${FILTER_URL} (views, visitors and revenue equal row by row)`);

      // ---- 4. Throughput at saturation, interleaved, best of SATURATION_ROUNDS ------------------
      load = await LoadGenerator.start();
      const generator = load;
      const order = ['baseline', 'rest', 'graphql', 'rest_nocache', 'rest_pinned', 'baseline_hgetall'] as const;
      progress(`warming up each endpoint (${WARM_UP_S} s)…`);
      for (const name of order) {
        await settle(assertClean(`${name} warm-up`, await generator.saturate(targets[name], { connections: SATURATION_CONNECTIONS, durationS: WARM_UP_S })), SATURATION_CONNECTIONS);
      }
      const best = new Map<(typeof order)[number], LoadResult>();
      // Both counted by the server once the run has drained (autocannon stops counting at its deadline).
      const cacheUse = new Map<(typeof order)[number], { hits: number; answers: number }>();
      const served = async () => ({
        hits: await counterTotal(braidRegistry, 'braid_serving_cache_hits_total'),
        answers: await counterTotal(braidRegistry, 'braid_serving_requests_total'),
      });
      for (let roundIndex = 1; roundIndex <= SATURATION_ROUNDS; roundIndex++) {
        for (const name of order) {
          const before = await served();
          const result = assertClean(name, await generator.saturate(targets[name], { connections: SATURATION_CONNECTIONS, durationS: SATURATION_S }));
          progress(
            `round ${roundIndex}, ${name}: ${result.reqPerS.toLocaleString()} req/s over ${SATURATION_CONNECTIONS} connections ` +
              `(p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms)`,
          );
          if (result.reqPerS > (best.get(name)?.reqPerS ?? -1)) best.set(name, result);
          await settle(result, SATURATION_CONNECTIONS);
          const after = await served();
          const use = cacheUse.get(name) ?? { hits: 0, answers: 0 };
          cacheUse.set(name, { hits: use.hits + after.hits - before.hits, answers: use.answers + after.answers - before.answers });
        }
      }
      const rate = (name: (typeof order)[number]) => best.get(name)!.reqPerS;
      const hitPct = (name: (typeof order)[number]) => round((cacheUse.get(name)!.hits / Math.max(1, cacheUse.get(name)!.answers)) * 100, 1);

      // ---- 5. Latency at 1,000 req/s ------------------------------------------------------------
      const atFixedRate = ['rest', 'graphql', 'rest_pinned'] as const;
      const fixed: Record<string, LoadResult> = {};
      for (const name of atFixedRate) {
        const result = assertClean(`${name} at ${FIXED_RATE_PER_S} req/s`, await generator.atRate(targets[name], { connections: FIXED_RATE_CONNECTIONS, durationS: FIXED_RATE_S, ratePerS: FIXED_RATE_PER_S }));
        fixed[name] = result;
        await settle(result, FIXED_RATE_CONNECTIONS);
        progress(
          `${name} at ${FIXED_RATE_PER_S} req/s (autocannon overallRate, ${FIXED_RATE_CONNECTIONS} connections): ${result.reqPerS} req/s answered, ` +
            `p50 ${result.p50Ms} ms, p90 ${result.p90Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms ` +
            `(autocannon's histogram: p50 ${result.autocannonP50Ms} ms, p99 ${result.autocannonP99Ms} ms)`,
        );
      }
      const paced: Record<string, LoadResult | undefined> = {};
      const serverStalls: Record<string, { loopDelayP99Ms: number; loopDelayMaxMs: number; gcPauses: number; gcMaxMs: number; gcTotalMs: number }> = {};
      for (const name of atFixedRate) {
        if (rate(name) < PACED_HEADROOM * FIXED_RATE_PER_S) {
          progress(`${name} paced at ${FIXED_RATE_PER_S} req/s: skipped, it saturates at ${rate(name)} req/s (its queue would only grow)`);
          continue;
        }
        // The servers run in this process: how late its event loop ran and how long its collector paused it.
        const loopDelay = monitorEventLoopDelay({ resolution: 1 });
        const pauses: number[] = [];
        const gc = new PerformanceObserver((list) => pauses.push(...list.getEntries().map((entry) => entry.duration)));
        gc.observe({ entryTypes: ['gc'] });
        loopDelay.enable();
        const result = assertClean(
          `${name} paced at ${FIXED_RATE_PER_S} req/s`,
          await generator.paced(targets[name], { maxSockets: PACED_MAX_SOCKETS, durationS: FIXED_RATE_S, ratePerS: FIXED_RATE_PER_S, graceS: PACED_GRACE_S }),
        );
        loopDelay.disable();
        gc.disconnect();
        paced[name] = result;
        serverStalls[name] = {
          loopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 1),
          loopDelayMaxMs: round(loopDelay.max / 1e6, 1),
          gcPauses: pauses.length,
          gcMaxMs: round(Math.max(0, ...pauses), 1),
          gcTotalMs: round(pauses.reduce((total, ms) => total + ms, 0)),
        };
        progress(`${name} paced: server event-loop delay p99 ${serverStalls[name].loopDelayP99Ms} ms, max ${serverStalls[name].loopDelayMaxMs} ms; ` +
          `${pauses.length} GC pauses, longest ${serverStalls[name].gcMaxMs} ms, ${serverStalls[name].gcTotalMs} ms in all`);
        await settle(result, PACED_MAX_SOCKETS);
        progress(
          `${name} paced at ${FIXED_RATE_PER_S} req/s (open loop, one request every ${1000 / FIXED_RATE_PER_S} ms): ${result.reqPerS} req/s answered, ` +
            `p50 ${result.p50Ms} ms, p90 ${result.p90Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms` +
            (result.unanswered > 0 ? `; ${result.unanswered} still unanswered ${PACED_GRACE_S} s after the last send (counted as ∞)` : ''),
        );
      }

      // ---- 6. Figures ---------------------------------------------------------------------------
      const figures: Record<string, number> = {
        rest_req_per_s: rate('rest'),
        graphql_req_per_s: rate('graphql'),
        baseline_req_per_s: rate('baseline'),
        rest_ratio: round(rate('rest') / rate('baseline'), 3),
        graphql_ratio: round(rate('graphql') / rate('baseline'), 3),
        rest_p50_ms_at_1000: fixed.rest!.p50Ms,
        rest_p99_ms_at_1000: fixed.rest!.p99Ms,
        graphql_p50_ms_at_1000: fixed.graphql!.p50Ms,
        graphql_p99_ms_at_1000: fixed.graphql!.p99Ms,
        rest_answered_req_per_s_at_1000: fixed.rest!.reqPerS,
        graphql_answered_req_per_s_at_1000: fixed.graphql!.reqPerS,
        rest_paced_p50_ms_at_1000: paced.rest?.p50Ms ?? Number.NaN,
        rest_paced_p99_ms_at_1000: paced.rest?.p99Ms ?? Number.NaN,
        graphql_paced_p50_ms_at_1000: paced.graphql?.p50Ms ?? Number.NaN,
        graphql_paced_p99_ms_at_1000: paced.graphql?.p99Ms ?? Number.NaN,
        rest_nocache_req_per_s: rate('rest_nocache'),
        rest_nocache_ratio: round(rate('rest_nocache') / rate('baseline'), 3),
        rest_cache_hit_pct: hitPct('rest'),
        rest_pinned_range_req_per_s: rate('rest_pinned'),
        rest_pinned_range_cache_hit_pct: hitPct('rest_pinned'),
        rest_pinned_range_p99_ms_at_1000: fixed.rest_pinned!.p99Ms,
        rest_pinned_range_paced_p99_ms_at_1000: paced.rest_pinned?.p99Ms ?? Number.NaN,
        baseline_hgetall_req_per_s: rate('baseline_hgetall'),
        rest_ratio_vs_hgetall: round(rate('rest') / rate('baseline_hgetall'), 3),
        rows_per_response: expected.length,
        hash_fields_per_window: Math.round(fieldsPerWindow),
        saturation_connections: SATURATION_CONNECTIONS,
      };
      const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
      progress(
        `REST ${figures.rest_req_per_s} req/s = ${figures.rest_ratio} × the minimal handler's ${figures.baseline_req_per_s} (target ≥ ${REST_RATIO_TARGET}: ${verdict(figures.rest_ratio! >= REST_RATIO_TARGET)}); ` +
          `GraphQL ${figures.graphql_req_per_s} req/s = ${figures.graphql_ratio} × (target ≥ ${GRAPHQL_RATIO_TARGET}: ${verdict(figures.graphql_ratio! >= GRAPHQL_RATIO_TARGET)}); ` +
          `without the cache REST = ${figures.rest_nocache_ratio} × (cache hits ${figures.rest_cache_hit_pct} % of REST answers at saturation)`,
      );
      // A p99 "at 1,000 req/s" counts only if the server answered about that many.
      const sustained = (result: LoadResult) => result.reqPerS >= 0.95 * FIXED_RATE_PER_S;
      const latencyMet = [fixed.rest!, fixed.graphql!].every((result) => sustained(result) && result.p99Ms < P99_TARGET_MS);
      progress(
        `p99 asked for ${FIXED_RATE_PER_S} req/s: REST ${figures.rest_p99_ms_at_1000} ms (${fixed.rest!.reqPerS} req/s answered), ` +
          `GraphQL ${figures.graphql_p99_ms_at_1000} ms (${fixed.graphql!.reqPerS} req/s answered) with autocannon; ` +
          `open loop REST ${figures.rest_paced_p99_ms_at_1000} ms, GraphQL ${figures.graphql_paced_p99_ms_at_1000} ms ` +
          `(target < ${P99_TARGET_MS} ms at ${FIXED_RATE_PER_S} req/s: ${verdict(latencyMet)})`,
      );
      progress(
        `with the range pinned to whole minutes (the same query all minute) REST does ${figures.rest_pinned_range_req_per_s} req/s, ` +
          `${figures.rest_pinned_range_cache_hit_pct} % from the cache, p99 at ${FIXED_RATE_PER_S} req/s ${figures.rest_pinned_range_p99_ms_at_1000} ms ` +
          `(open loop ${figures.rest_pinned_range_paced_p99_ms_at_1000} ms); a hand-written handler that fetches whole window hashes (HGETALL) ` +
          `does ${figures.baseline_hgetall_req_per_s} req/s: REST is ${figures.rest_ratio_vs_hgetall} × that`,
      );
      return figures;
    } finally {
      if (load) await load[Symbol.asyncDispose]();
      for (const server of servers) await server.close().catch((error: unknown) => progress(`closing a server failed: ${(error as Error).message}`));
      await worker?.stop().catch((error: unknown) => progress(`stopping the worker failed: ${(error as Error).message}`));
      await admin.deleteTopics({ topics: [topic, `${topic}.dlq`, `${topic}.late`] }).catch(() => undefined);
      await admin.deleteGroups([group]).catch(() => undefined);
      await admin.disconnect();
      const deleted = await deleteKeysWithPrefix(redis, keyPrefix).catch(() => 0);
      rmSync(dataDir, { recursive: true, force: true });
      progress(`cleaned up: topics ${topic}(.dlq, .late), group ${group}, ${deleted} Redis keys under ${keyPrefix}, ${dataDir}`);
      redis.disconnect();
    }
  },
});
