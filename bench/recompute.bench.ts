import { deleteKeysWithPrefix } from './lib/redis-cleanup.ts';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { filesToRead, listMasterFiles, readBatchView, recomputeView, sourceRoot } from '../batch/index.ts';
import { dayFolder, dayOf, FIELDS_METADATA_KEY, fieldsMetadata, masterFileName } from '../batch/master-dataset.ts';
import { getSource } from '../shared/sources/index.ts';
import { sqlStringLiteral } from '../shared/sql/index.ts';
import { createRedisClient } from '../shared/clients/index.ts';
import { loadConfig } from '../shared/config/index.ts';
import { demoViews, pageViews, type View } from '../shared/views/index.ts';
import { stackUp } from '../infra/stack/index.ts';
import { defineBenchmark } from './lib/benchmark.ts';

// The master dataset, built directly with DuckDB SQL (no Kafka): EVENTS events over
// HOURS hours, one file per hour and Kafka partition, named as the archiver names them.
const EVENTS = 10_000_000;
const HOURS = 24;
const PARTITIONS = 4;
const USERS = 20_000;
const URLS = 5_000;
const REVENUE_FRACTION = 0.02;
const START_MS = Date.UTC(2026, 0, 1);
const HOUR_MS = 3_600_000;
const SPAN_MS = HOURS * HOUR_MS;
/** Every window ends by then: the cutoff of the full recompute. */
const END_MS = START_MS + SPAN_MS;
const TOPIC = 'bench-recompute';
/** Runs of each side; the fastest counts. */
const ROUNDS = 3;
/** Events are ~8.6 ms apart; each moves forward by up to this much (some disorder, some equal timestamps). */
const JITTER_MS = 8;
/** Windows of the first half hour, read back through readBatchView to check page_views' distinct visitors. */
const VISITOR_CHECK_MS = 30 * 60_000;
const STAGE_LABELS: Record<string, string> = {
  cutoff: 'default cutoff',
  sketchPositions: 'approxDistinct values hashed to Redis HLL positions (JS)',
  query: 'compiled SQL → data.parquet (DuckDB COPY)',
  rest: 'the rest: file listing, a DuckDB connection (the engine starts once per process), manifest, publish and expiry handshake',
};

const COUNTRIES = ['US', 'IN', 'GB', 'DE', 'BR', 'FR', 'JP', 'CA', 'ES', 'IT', 'MX', 'AU', 'NL', 'PL', 'SE', 'KR', 'NG', 'ZA', 'AR', 'IE'];

const seconds = (startedNs: bigint): number => Number(process.hrtime.bigint() - startedNs) / 1e9;
const round = (value: number, digits = 0): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** A uniform double in [0, 1) from row index `i`, one independent stream per `stream`. */
const uniform = (stream: number): string => `((hash(i + ${stream * EVENTS}) >> 11)::DOUBLE / 9007199254740992.0)`;
/** A Zipf-like (s ≈ 1) rank in [0, n − 1): P(rank = r) ∝ log((r + 2) / (r + 1)). */
const zipfRank = (n: number, stream: number): string => `(floor(pow(${n}, ${uniform(stream)}))::BIGINT - 1)`;

/**
 * Events `i` (global arrival order) of one hour and one partition: event time
 * spread evenly over the span plus jitter (clamped to the hour), Zipf-skewed
 * users, URLs and countries, revenue on ~2 % of views. Partition `i % 4`,
 * offset `i / 4`, so each file covers one contiguous offset range.
 */
function eventsSql(first: number, end: number, hourEndMs: number): string {
  const url = `CASE url_rank WHEN 0 THEN '/' WHEN 1 THEN '/search' WHEN 2 THEN '/cart' WHEN 3 THEN '/checkout' WHEN 4 THEN '/login' WHEN 5 THEN '/deals'
      ELSE CASE WHEN (url_rank - 6) % 3 = 2 THEN '/category/' || ((url_rank - 6) // 3) ELSE '/product/' || (url_rank - 6) END END`;
  return `
    SELECT ts, user_id, user_id || '-s' || ((ts - ${START_MS}) // 1800000) AS session_id, ${url} AS url, country, device, revenue,
           _kafka_partition, _kafka_offset
    FROM (
      SELECT least(${START_MS} + (i * ${SPAN_MS}) // ${EVENTS} + hash(i + ${7 * EVENTS}) % ${JITTER_MS}, ${hourEndMs - 1})::BIGINT AS ts,
             'u' || lpad(${zipfRank(USERS, 1)}::VARCHAR, 5, '0') AS user_id,
             ${zipfRank(URLS, 2)} AS url_rank,
             [${COUNTRIES.map(sqlStringLiteral).join(', ')}][floor(pow(${COUNTRIES.length + 1}, ${uniform(3)}))::INTEGER] AS country,
             CASE WHEN ${uniform(4)} < 0.55 THEN 'mobile' WHEN ${uniform(4)} < 0.93 THEN 'desktop' ELSE 'tablet' END AS device,
             CASE WHEN ${uniform(5)} < ${REVENUE_FRACTION} THEN round(5 + 195 * pow(${uniform(6)}, 2), 2) END AS revenue,
             (i % ${PARTITIONS})::INTEGER AS _kafka_partition,
             (i // ${PARTITIONS})::BIGINT AS _kafka_offset
      FROM range(${first}, ${end}, ${PARTITIONS}) r(i)
    )`;
}

/**
 * Writes the master dataset as the archiver would: an hour of a partition per file, in its day's folder, named
 * with its offsets and event-time range, the source's fields in its footer. Returns the number of files.
 */
export async function buildMasterDataset(connection: DuckDBConnection, dataDir: string): Promise<number> {
  let files = 0;
  const metadata = `KV_METADATA {${sqlStringLiteral(FIELDS_METADATA_KEY)}: ${sqlStringLiteral(fieldsMetadata(getSource('clickstream')))}}`;
  for (let hour = 0; hour < HOURS; hour++) {
    // Row i has event hour floor(i · 24 / EVENTS) before jitter, and jitter is clamped to the hour.
    const low = Math.ceil((hour * EVENTS) / HOURS);
    const high = Math.ceil(((hour + 1) * EVENTS) / HOURS);
    const hourStartMs = START_MS + hour * HOUR_MS;
    const folder = dayFolder(dataDir, 'clickstream', dayOf(hourStartMs));
    mkdirSync(folder, { recursive: true });
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const first = low + ((partition - (low % PARTITIONS) + PARTITIONS) % PARTITIONS);
      if (first >= high) continue;
      const last = first + Math.floor((high - 1 - first) / PARTITIONS) * PARTITIONS;
      const written = join(folder, `${TOPIC}-p${partition}.parquet.tmp`);
      await connection.run(`COPY (${eventsSql(first, high, hourStartMs + HOUR_MS)}) TO ${sqlStringLiteral(written)} (FORMAT parquet, COMPRESSION zstd, ${metadata})`);
      const [range] = (await connection.runAndReadAll(`SELECT min(ts) AS lo, max(ts) AS hi FROM read_parquet(${sqlStringLiteral(written)})`)).getRowObjectsJS();
      const name = masterFileName({
        topic: TOPIC,
        partition,
        firstOffset: (first - partition) / PARTITIONS,
        lastOffset: (last - partition) / PARTITIONS,
        minTimeMs: Number(range!.lo),
        maxTimeMs: Number(range!.hi),
        index: 1,
        count: 1,
      });
      renameSync(written, join(folder, name));
      files++;
    }
  }
  return files;
}

/**
 * The hand-written twin of each demo view: the same finished rows (window
 * bounds, dimension, measures), written the way one would write it straight
 * in DuckDB, then COPY'd to Parquet as Braid publishes its version.
 */
function handwrittenSql(view: View, source: string, cutoffMs: number, exactDistinct: boolean): string {
  switch (view.name) {
    case 'page_views':
      return `
        SELECT ts // 60000 * 60000 AS window_start, window_start + 60000 AS window_end, url,
               count(*) AS views, ${exactDistinct ? 'count(DISTINCT user_id)' : 'approx_count_distinct(user_id)'} AS visitors, sum(revenue) AS revenue
        FROM ${source} WHERE ts < ${cutoffMs}
        GROUP BY ALL ORDER BY window_start, url`;
    case 'country_minutes':
      // Panes: count and sum per minute first, then each 5-minute window adds its five panes.
      return `
        WITH panes AS (SELECT ts // 60000 * 60000 AS pane, country, count(*) AS views, sum(revenue) AS revenue FROM ${source} GROUP BY ALL)
        SELECT window_start, window_start + 300000 AS window_end, country, sum(views)::BIGINT AS views, sum(revenue) AS revenue
        FROM (SELECT *, unnest(generate_series(pane - 240000, pane, 60000)) AS window_start FROM panes)
        WHERE window_start + 300000 <= ${cutoffMs}
        GROUP BY window_start, country ORDER BY window_start, country`;
    case 'user_sessions':
      // The default frame (RANGE … CURRENT ROW) numbers events with equal timestamps alike.
      return `
        SELECT min(ts) AS window_start, max(ts) + 1800000 AS window_end, user_id, count(*) AS events, sum(revenue) AS revenue
        FROM (SELECT *, sum(new_session) OVER (PARTITION BY user_id ORDER BY ts) AS session
              FROM (SELECT user_id, ts, revenue,
                           CASE WHEN ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts) < 1800000 THEN 0 ELSE 1 END AS new_session
                    FROM ${source}))
        GROUP BY user_id, session HAVING max(ts) + 1800000 <= ${cutoffMs}
        ORDER BY window_start, window_end, user_id`;
    default:
      throw new Error(`no hand-written SQL for view ${view.name}`);
  }
}

/** Removes the keys the expiry handshake wrote under the benchmark's own prefix. */
async function deleteKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = createRedisClient(redisUrl, { name: 'braid-bench' });
  try {
    return await deleteKeysWithPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

async function withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * Compares Braid's published rows (state columns) with the hand-written
 * result: same windows and keys, counts equal, sums equal to 1e-9 relative.
 * approxDistinct is checked separately (it is an estimate on both sides).
 */
async function compareResults(view: View, braidFile: string, handFile: string): Promise<string[]> {
  const key = view.dimensions.map((dimension) => dimension.name);
  const exact = view.measures.filter(({ measure }) => measure.kind === 'count').map(({ name }) => name);
  const sums = view.measures.filter(({ measure }) => measure.kind === 'sum').map(({ name }) => name);
  const braidColumns = [
    ...exact.map((name) => `state_${name}::BIGINT AS ${name}`),
    ...sums.map((name) => `state_${name}::DOUBLE AS ${name}`),
  ];
  const sql = `
    WITH braid AS (SELECT window_start, window_end, ${key.join(', ')}, ${braidColumns.join(', ')} FROM read_parquet(${sqlStringLiteral(braidFile)})),
         hand AS (SELECT * FROM read_parquet(${sqlStringLiteral(handFile)}))
    SELECT count(*) FILTER (WHERE braid.window_start IS NULL) AS only_handwritten,
           count(*) FILTER (WHERE hand.window_start IS NULL) AS only_braid,
           count(*) FILTER (WHERE braid.window_end <> hand.window_end) AS window_end_differs,
           ${exact.map((name) => `count(*) FILTER (WHERE braid.${name} <> hand.${name}) AS ${name}_differs`).join(', ')},
           ${sums
             .map(
               (name) =>
                 `count(*) FILTER (WHERE (braid.${name} IS NULL) <> (hand.${name} IS NULL) ` +
                 `OR abs(braid.${name} - hand.${name}) > 1e-9 * greatest(1, abs(hand.${name}))) AS ${name}_differs`,
             )
             .join(', ')}
    FROM braid FULL OUTER JOIN hand ON braid.window_start = hand.window_start AND ${key.map((name) => `braid.${name} = hand.${name}`).join(' AND ')}`;
  const counts = await withConnection(async (connection) => (await connection.runAndReadAll(sql)).getRowObjectsJS()[0]!);
  return Object.entries(counts)
    .filter(([, value]) => Number(value) !== 0)
    .map(([name, value]) => `${name}: ${String(value)} rows`);
}

/** page_views' distinct visitors in the first windows, from the published version (readBatchView), against exact count(DISTINCT). */
async function checkVisitors(
  dataDir: string,
  source: string,
): Promise<{ cells: number; exactCells: number; maxAbsError: number; maxErrorPct: number; meanErrorPct: number }> {
  const { rows } = await readBatchView(dataDir, pageViews, { fromMs: START_MS, toMs: START_MS + VISITOR_CHECK_MS });
  const exact = await withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `SELECT ts // 60000 * 60000 AS window_start, url, count(DISTINCT user_id) AS visitors FROM ${source}
         WHERE ts >= ${START_MS} AND ts < ${START_MS + VISITOR_CHECK_MS} GROUP BY ALL`,
      )
    ).getRowObjectsJS(),
  );
  const truth = new Map(exact.map((row) => [`${String(row.window_start)}|${String(row.url)}`, Number(row.visitors)]));
  let maxError = 0;
  let totalError = 0;
  let maxAbsError = 0;
  let exactCells = 0;
  for (const row of rows) {
    const expected = truth.get(`${row.windowStart}|${String(row.dimensions.url)}`);
    if (expected === undefined) throw new Error(`page_views: window ${row.windowStart} url ${String(row.dimensions.url)} has no events`);
    const absError = Math.abs(Number(row.measures.visitors) - expected);
    if (absError === 0) exactCells++;
    maxAbsError = Math.max(maxAbsError, absError);
    maxError = Math.max(maxError, absError / expected);
    totalError += absError / expected;
  }
  if (rows.length !== truth.size) throw new Error(`page_views: ${rows.length} cells in the first ${VISITOR_CHECK_MS / 60_000} min, expected ${truth.size}`);
  return { cells: rows.length, exactCells, maxAbsError, maxErrorPct: maxError * 100, meanErrorPct: (totalError / Math.max(1, rows.length)) * 100 };
}

/**
 * Recompute: each demo view over a ≥ 10 M-event master dataset, full
 * (cutoff = end of data), as recomputeView does it (compiled SQL → the
 * published version) next to the same result hand-written in DuckDB SQL over
 * the same files, in the same run, best of three each; ratio = hand-written
 * time / Braid's. The manifest's timings show where Braid's time goes.
 */
export default defineBenchmark({
  name: 'recompute',
  description: `full recompute of the demo views over ${EVENTS.toLocaleString()} events (${HOURS} h) vs hand-written DuckDB SQL`,
  async run({ progress }) {
    const root = join(tmpdir(), `braid-bench-recompute-${process.pid}-${Date.now().toString(36)}`);
    const dataDir = join(root, 'data');
    const handDir = join(root, 'handwritten');
    mkdirSync(handDir, { recursive: true });
    // recomputeView ends with the expiry handshake in Redis: the stack's Redis, under a prefix of the benchmark's own.
    const stack = await stackUp(loadConfig(), progress);
    const keyPrefix = `bench-recompute-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}:`;
    const config = loadConfig({ overrides: { dataDir, 'redis.url': stack.redisUrl, 'redis.keyPrefix': keyPrefix } });
    try {
      const buildStarted = process.hrtime.bigint();
      const fileCount = await withConnection(async (connection) => {
        const threads = (await connection.runAndReadAll("SELECT current_setting('threads')::INTEGER AS threads")).getRowObjectsJS()[0]!.threads;
        const version = (await connection.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0]!.v;
        progress(`DuckDB ${String(version)}, threads=${String(threads)}; master dataset under ${dataDir}`);
        return buildMasterDataset(connection, dataDir);
      });
      const files = filesToRead(listMasterFiles(dataDir, 'clickstream').files);
      if (files.length !== fileCount) throw new Error(`filesToRead() accepts ${files.length} of the ${fileCount} files written`);
      const source = `read_parquet([${files.map((file) => sqlStringLiteral(file.path)).join(', ')}])`;
      const shape = await withConnection(async (connection) =>
        (
          await connection.runAndReadAll(
            `SELECT count(*) AS events, count(DISTINCT user_id) AS users, count(DISTINCT url) AS urls, count(revenue) AS revenue_rows,
                    min(ts) AS min_ts, max(ts) AS max_ts FROM ${source}`,
          )
        ).getRowObjectsJS()[0]!,
      );
      const events = Number(shape.events);
      if (events !== EVENTS) throw new Error(`the master dataset holds ${events} events, expected ${EVENTS}`);
      if (Number(shape.min_ts) < START_MS || Number(shape.max_ts) >= END_MS) throw new Error('event times outside the span');
      progress(
        `master dataset: ${events.toLocaleString()} events in ${files.length} files (${HOURS} h × ${PARTITIONS} partitions), ` +
          `${Number(shape.users).toLocaleString()} users, ${Number(shape.urls).toLocaleString()} urls, ` +
          `${Number(shape.revenue_rows).toLocaleString()} with revenue; built in ${seconds(buildStarted).toFixed(1)} s`,
      );

      const figures: Record<string, number> = { rows: events };
      const breakdowns: string[] = [];
      for (const view of demoViews) {
        progress(`${view.name}: recomputeView (full, cutoff = end of data)…`);
        // Best of ROUNDS for both sides, alternating, so a background hiccup on this shared box does not decide the ratio.
        let braidS = Infinity;
        let manifest: Awaited<ReturnType<typeof recomputeView>> | undefined;
        let handS = Infinity;
        let latest: Awaited<ReturnType<typeof recomputeView>> | undefined;

        const handFile = join(handDir, `${view.name}.parquet`);
        const hand = async (exactDistinct: boolean): Promise<number> =>
          withConnection(async (connection) => {
            const started = process.hrtime.bigint();
            await connection.run(
              `COPY (${handwrittenSql(view, source, END_MS, exactDistinct)}) TO ${sqlStringLiteral(handFile)} (FORMAT parquet, COMPRESSION zstd)`,
            );
            return seconds(started);
          });
        // page_views: approx_count_distinct is the like-for-like figure (an HLL estimate, as Braid's);
        // count(DISTINCT) is timed too, and its file is the one compared, since it is exact.
        for (let round = 0; round < ROUNDS; round++) {
          const braidStarted = process.hrtime.bigint();
          const published = await recomputeView({ config, view, cutoffMs: END_MS });
          const took = seconds(braidStarted);
          if (published.cutoffMs !== END_MS) throw new Error(`${view.name}: cutoff ${published.cutoffMs}, expected ${END_MS}`);
          if (took < braidS) [braidS, manifest] = [took, published];
          latest = published;
          handS = Math.min(handS, await hand(false));
        }
        if (!manifest || !latest) throw new Error('no round ran');
        const exactS = view === pageViews ? await hand(true) : handS;

        // The newest version: older ones may be pruned (batch.keepVersions).
        const braidFile = join(dataDir, 'views', view.name, `v${latest.version}`, 'data.parquet');
        const problems = await compareResults(view, braidFile, handFile);
        if (problems.length > 0) throw new Error(`${view.name}: Braid's result differs from the hand-written one: ${problems.join('; ')}`);
        let visitorsNote = '';
        if (view === pageViews) {
          const check = await checkVisitors(dataDir, source);
          visitorsNote =
            `; visitors (Redis HLL, read back with readBatchView) vs count(DISTINCT) over the ${check.cells.toLocaleString()} cells of the first ` +
            `${VISITOR_CHECK_MS / 60_000} min: ${check.exactCells.toLocaleString()} exact, mean error ${check.meanErrorPct.toFixed(3)} %, ` +
            `max off by ${check.maxAbsError}, max relative error ${check.maxErrorPct.toFixed(1)} %`;
          figures.page_views_visitors_mean_error_pct = round(check.meanErrorPct, 3);
        }

        figures[`${view.name}_rows_per_s`] = Math.round(events / braidS);
        figures[`${view.name}_handwritten_rows_per_s`] = Math.round(events / handS);
        if (view === pageViews) figures.page_views_handwritten_exact_rows_per_s = Math.round(events / exactS);
        figures[`${view.name}_ratio`] = round(handS / braidS, 3);
        figures[`${view.name}_output_rows`] = manifest.rowCount;
        progress(
          `${view.name}: braid ${braidS.toFixed(2)} s (${Math.round(events / braidS).toLocaleString()} events/s), ` +
            `hand-written ${handS.toFixed(2)} s${view === pageViews ? ` (approx_count_distinct; count(DISTINCT) ${exactS.toFixed(2)} s)` : ''}, ` +
            `ratio ${figures[`${view.name}_ratio`]}; ${manifest.rowCount.toLocaleString()} rows, same as hand-written${visitorsNote}`,
        );

        // Where the run's time went, as recomputeView records it in the manifest.
        const timings = manifest.timingsMs ?? {};
        const accounted = Object.values(timings).reduce((total, ms) => total + ms, 0);
        const stages: Record<string, number> = { ...timings, rest: Math.max(0, braidS * 1000 - accounted) };
        for (const [stage, ms] of Object.entries(stages)) figures[`${view.name}_profile_${stage}_s`] = round(ms / 1000, 2);
        const line =
          `${view.name}, recomputeView ${braidS.toFixed(2)} s: ` +
          Object.entries(stages)
            .map(([stage, ms]) => `${STAGE_LABELS[stage] ?? stage} ${(ms / 1000).toFixed(2)} s (${Math.round(ms / 10 / braidS)} %)`)
            .join(', ');
        breakdowns.push(line);
        progress(line);
      }
      progress('where recompute spends its time:');
      for (const line of breakdowns) progress(`  ${line}`);
      return figures;
    } finally {
      rmSync(root, { recursive: true, force: true });
      const deleted = await deleteKeys(stack.redisUrl, keyPrefix).catch(() => 0);
      progress(`cleaned up: ${root}, ${deleted} Redis keys under ${keyPrefix}`);
    }
  },
});
