/**
 * The hand-written twin of Braid's dashboard reads of `page_views` (tumbling
 * 1-minute windows of url → views, visitors = approxDistinct(user_id),
 * revenue): what one would write for these queries alone, knowing the
 * published version's Parquet file and cutoff, the speed layer's Redis keys,
 * the Kafka topic and its partition count. The same rows as Braid's REST
 * answer (range alignment, merge at the cutoff, order, limit), with DuckDB
 * doing the batch side's aggregation:
 *
 * - Top rows by views (1-minute rows, `order=views`): DuckDB returns the
 *   batch's first `limit` rows by views with their HyperLogLog positions;
 *   Redis gives every speed window's cells (HGETALL); after the merge and
 *   the limit, one HMGET per speed row kept fetches its partitions' sketches.
 * - Roll-ups (`bucket` > 1 minute): DuckDB sums views and revenue per bucket
 *   and url and takes each register's largest value; for a bucket the speed
 *   layer does not reach it returns the histogram of register values (all the
 *   estimator needs), for one it does the registers, which the handler unions
 *   with the partitions' sketches from Redis (HGETALL per window).
 *
 * Visitors are Redis's estimator (hllCount: Ertl's σ/τ form) over the
 * register histogram, so they equal Braid's RedisHll.count() on the same
 * registers.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { createRedisClient } from '../../shared/clients/index.ts';
import { PartitionSketch, REDIS_HLL_REGISTER_COUNT } from '../../shared/measures/index.ts';
import { FIELD_SEPARATOR, ROW_COUNT, SpeedKeys } from '../../shared/speed-contract/index.ts';
import { sqlStringLiteral } from '../../shared/sql/index.ts';

export interface BaselineOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** The Kafka topic the speed worker consumed, and its partitions: the sketch fields' names. */
  readonly topic: string;
  readonly partitions: number;
  /** The published version's data file of page_views, and its cutoff (a whole minute). */
  readonly parquetFile: string;
  readonly cutoffMs: number;
  /** Rows an answer may hold when no limit is asked (Braid's `serving.limits.maxRows`). */
  readonly maxRows: number;
}

const VIEW = 'page_views';
const WINDOW_MS = 60_000;

// Redis's hllCount() (src/hyperloglog.c), from the histogram of register values.
const M = REDIS_HLL_REGISTER_COUNT;
const ALPHA_INF = 0.72134752044448170368;
const RUN_BITS = 50;
const MAX_HASHED_VALUE = 51;

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (previous !== z);
  return z / 3;
}

/** The estimate of a sketch whose register values have this histogram (64 slots, slot 0 = zero registers). */
function estimate(histogram: Int32Array): number {
  let z = M * tau((M - histogram[MAX_HASHED_VALUE]!) / M);
  for (let j = RUN_BITS; j >= 1; j--) {
    z += histogram[j]!;
    z *= 0.5;
  }
  z += M * sigma(histogram[0]! / M);
  return Math.round((ALPHA_INF * M * M) / z);
}

function estimateRegisters(registers: Uint8Array): number {
  const histogram = new Int32Array(64);
  for (let i = 0; i < M; i++) histogram[registers[i]!]!++;
  return estimate(histogram);
}

interface Row {
  windowStart: number;
  windowEnd: number;
  url: string;
  views: number;
  revenue: number | null;
  visitors: number;
  /** Speed rows of a top-N answer: their sketches are read once the rows are chosen. */
  fromSpeed?: boolean;
  /** Buckets the speed layer reaches: the union of batch registers and partition sketches. */
  registers?: Uint8Array;
}

const addRevenue = (a: number | null, b: number | null) => (b === null ? a : a === null ? b : a + b);

/** Braid's order: by the field asked (views descending here), then window start, then url. */
function byViews(a: Row, b: Row): number {
  return b.views - a.views || a.windowStart - b.windowStart || (a.url < b.url ? -1 : a.url > b.url ? 1 : 0);
}

function byTime(a: Row, b: Row): number {
  return a.windowStart - b.windowStart || (a.url < b.url ? -1 : a.url > b.url ? 1 : 0);
}

interface DashQuery {
  readonly fromMs: number;
  readonly toMs: number;
  readonly bucketMs: number;
  readonly batchOnly: boolean;
  readonly orderByViews: boolean;
  readonly limit: number;
}

class DashboardReader {
  private readonly keys: SpeedKeys;

  constructor(
    private readonly options: BaselineOptions,
    private readonly redis: Redis,
    private readonly duckdb: DuckDBConnection,
  ) {
    this.keys = new SpeedKeys(options.keyPrefix);
  }

  async read(query: DashQuery): Promise<Row[]> {
    const { cutoffMs } = this.options;
    const rollUp = query.bucketMs !== WINDOW_MS;
    // As Braid aligns the range: a roll-up reads whole buckets; 1-minute rows round both ends up to a minute.
    const step = rollUp ? query.bucketMs : WINDOW_MS;
    const fromMs = rollUp ? Math.floor(query.fromMs / step) * step : Math.ceil(query.fromMs / step) * step;
    const toMs = Math.ceil(query.toMs / step) * step;
    const batchToMs = query.batchOnly ? toMs : Math.min(toMs, cutoffMs);
    // 1-minute windows ending after a whole-minute cutoff start at or after it.
    const speedFromMs = Math.max(fromMs, cutoffMs);
    const speed = !query.batchOnly && speedFromMs < toMs;
    if (!rollUp) return this.topRows(query, fromMs, batchToMs, speed ? speedFromMs : null, toMs);
    return this.rolledUp(query, fromMs, batchToMs, speed ? speedFromMs : null, toMs);
  }

  private async topRows(query: DashQuery, fromMs: number, batchToMs: number, speedFromMs: number | null, toMs: number): Promise<Row[]> {
    const { cutoffMs, parquetFile } = this.options;
    const order = query.orderByViews ? 'state_views DESC, window_start, url' : 'window_start, url';
    const [batch, speed] = await Promise.all([
      fromMs < batchToMs
        ? this.duckdb.runAndReadAll(
            `SELECT window_start, url, state_views, state_revenue, state_visitors FROM read_parquet(${sqlStringLiteral(parquetFile)})
             WHERE window_start >= ${fromMs} AND window_start < ${batchToMs} AND window_end <= ${cutoffMs}
             ORDER BY ${order} LIMIT ${query.limit}`,
          )
        : null,
      speedFromMs === null ? [] : this.speedCells(speedFromMs, toMs),
    ]);
    const rows: Row[] = [];
    const columns = batch?.getColumnsObjectJS();
    for (let index = 0; index < (columns?.url?.length ?? 0); index++) {
      const registers = new Uint8Array(M);
      for (const position of (columns!.state_visitors![index] as Array<number | null> | null) ?? []) {
        if (position !== null && (position & 63) > registers[position >> 6]!) registers[position >> 6] = position & 63;
      }
      const windowStart = Number(columns!.window_start![index]);
      const revenue = columns!.state_revenue![index] as number | null;
      rows.push({
        windowStart,
        windowEnd: windowStart + WINDOW_MS,
        url: columns!.url![index] as string,
        views: Number(columns!.state_views![index]),
        revenue,
        visitors: estimateRegisters(registers),
      });
    }
    for (const cell of speed) rows.push({ ...cell, visitors: 0, fromSpeed: true });
    rows.sort(query.orderByViews ? byViews : byTime);
    const kept = rows.slice(0, query.limit);
    const fromSpeed = kept.filter((row) => row.fromSpeed);
    if (fromSpeed.length > 0) {
      const { topic, partitions } = this.options;
      const sketches = this.redis.pipeline();
      for (const row of fromSpeed) {
        const fields = Array.from({ length: partitions }, (_, partition) => SpeedKeys.sketchField(topic, partition, row.url));
        sketches.hmgetBuffer(this.keys.sketches(VIEW, row.windowStart, 'visitors'), ...fields);
      }
      const replies = (await sketches.exec())!;
      fromSpeed.forEach((row, index) => {
        const [error, parts] = replies[index]!;
        if (error) throw error;
        const registers = new Uint8Array(M);
        for (const bytes of parts as Array<Buffer | null>) if (bytes !== null) PartitionSketch.mergeInto(registers, bytes);
        row.visitors = estimateRegisters(registers);
        delete row.fromSpeed;
      });
    }
    return kept;
  }

  /** Every speed cell of the windows starting in [fromMs, toMs): views and revenue (HGETALL of each window hash). */
  private async speedCells(fromMs: number, toMs: number): Promise<Array<Omit<Row, 'visitors'>>> {
    const starts = (await this.redis.zrangebyscore(this.keys.windows(VIEW), fromMs, `(${toMs}`)).map(Number);
    if (starts.length === 0) return [];
    const reads = this.redis.pipeline();
    for (const start of starts) reads.hgetall(this.keys.window(VIEW, start));
    const replies = (await reads.exec())!;
    const cells: Array<Omit<Row, 'visitors'>> = [];
    starts.forEach((start, index) => {
      const [error, hash] = replies[index]!;
      if (error) throw error;
      const byUrl = new Map<string, Omit<Row, 'visitors'>>();
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const cut = field.lastIndexOf(FIELD_SEPARATOR);
        const url = field.slice(0, cut);
        let cell = byUrl.get(url);
        if (!cell) byUrl.set(url, (cell = { windowStart: start, windowEnd: start + WINDOW_MS, url, views: -1, revenue: null }));
        const name = field.slice(cut + 1);
        if (name === ROW_COUNT) cell.views = Number(value);
        else if (name === 'revenue') cell.revenue = Number(value);
      }
      for (const cell of byUrl.values()) if (cell.views >= 0) cells.push(cell);
    });
    return cells;
  }

  private async rolledUp(query: DashQuery, fromMs: number, batchToMs: number, speedFromMs: number | null, toMs: number): Promise<Row[]> {
    const { cutoffMs, parquetFile } = this.options;
    const bucket = query.bucketMs;
    // Buckets the speed layer reaches need their registers (for the union); the others only the histogram.
    const speedBucketsFrom = speedFromMs === null ? Number.MAX_SAFE_INTEGER : Math.floor(speedFromMs / bucket) * bucket;
    const sql = `
      WITH cells AS (
        SELECT window_start // ${bucket} * ${bucket} AS bucket, url, state_views, state_revenue, state_visitors
        FROM read_parquet(${sqlStringLiteral(parquetFile)})
        WHERE window_start >= ${fromMs} AND window_start < ${batchToMs} AND window_end <= ${cutoffMs}),
      totals AS (SELECT bucket, url, sum(state_views)::BIGINT AS views, sum(state_revenue) AS revenue FROM cells GROUP BY ALL),
      registers AS MATERIALIZED (
        SELECT bucket, url, p >> 6 AS register, max(p & 63) AS value
        FROM (SELECT bucket, url, unnest(state_visitors) AS p FROM cells) WHERE p IS NOT NULL GROUP BY ALL),
      histograms AS (
        SELECT bucket, url, list(value) AS histogram_values, list(n) AS histogram_counts
        FROM (SELECT bucket, url, value, count(*)::INTEGER AS n FROM registers WHERE bucket < ${speedBucketsFrom} GROUP BY ALL) GROUP BY ALL),
      positions AS (SELECT bucket, url, list(register * 64 + value) AS positions FROM registers WHERE bucket >= ${speedBucketsFrom} GROUP BY ALL)
      SELECT * FROM totals LEFT JOIN histograms USING (bucket, url) LEFT JOIN positions USING (bucket, url)`;
    const [batch, speed] = await Promise.all([fromMs < batchToMs ? this.duckdb.runAndReadAll(sql) : null, speedFromMs === null ? null : this.speedBuckets(bucket, speedFromMs, toMs)]);
    const rows = speed ?? new Map<string, Row>();
    // Column by column: DuckDB's node client turns columns into JavaScript values faster than row objects.
    const columns = batch?.getColumnsObjectJS();
    for (let index = 0; index < (columns?.url?.length ?? 0); index++) {
      const windowStart = Number(columns!.bucket![index]);
      const url = columns!.url![index] as string;
      const views = Number(columns!.views![index]);
      const revenue = columns!.revenue![index] as number | null;
      const positions = columns!.positions![index] as number[] | null;
      if (positions !== null) {
        const key = `${windowStart}${FIELD_SEPARATOR}${url}`;
        let row = rows.get(key);
        if (!row) rows.set(key, (row = { windowStart, windowEnd: windowStart + bucket, url, views: 0, revenue: null, visitors: 0, registers: new Uint8Array(M) }));
        row.views += views;
        row.revenue = addRevenue(row.revenue, revenue);
        const registers = row.registers!;
        for (const position of positions) if ((position & 63) > registers[position >> 6]!) registers[position >> 6] = position & 63;
        continue;
      }
      const histogram = new Int32Array(64);
      const values = (columns!.histogram_values![index] as number[] | null) ?? [];
      const counts = (columns!.histogram_counts![index] as number[] | null) ?? [];
      let nonZero = 0;
      values.forEach((value, index) => {
        histogram[value] = counts[index]!;
        nonZero += counts[index]!;
      });
      histogram[0] = M - nonZero;
      rows.set(`${windowStart}${FIELD_SEPARATOR}${url}`, { windowStart, windowEnd: windowStart + bucket, url, views, revenue, visitors: estimate(histogram) });
    }
    const result = [...rows.values()];
    for (const row of result) {
      if (row.registers) {
        row.visitors = estimateRegisters(row.registers);
        delete row.registers;
      }
    }
    result.sort(query.orderByViews ? byViews : byTime);
    return result.slice(0, query.limit);
  }

  /** The speed windows starting in [fromMs, toMs), summed per bucket and url, their partitions' sketches unioned into registers. */
  private async speedBuckets(bucket: number, fromMs: number, toMs: number): Promise<Map<string, Row>> {
    const rows = new Map<string, Row>();
    const starts = (await this.redis.zrangebyscore(this.keys.windows(VIEW), fromMs, `(${toMs}`)).map(Number);
    if (starts.length === 0) return rows;
    const reads = this.redis.pipeline();
    for (const start of starts) reads.hgetall(this.keys.window(VIEW, start)).hgetallBuffer(this.keys.sketches(VIEW, start, 'visitors'));
    const replies = (await reads.exec())!;
    starts.forEach((start, index) => {
      const [cellsError, hash] = replies[2 * index]!;
      const [sketchError, sketches] = replies[2 * index + 1]!;
      if (cellsError ?? sketchError) throw cellsError ?? sketchError;
      const windowStart = Math.floor(start / bucket) * bucket;
      const counted = new Set<string>();
      const revenues = new Map<string, number>();
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const cut = field.lastIndexOf(FIELD_SEPARATOR);
        const name = field.slice(cut + 1);
        if (name === ROW_COUNT) {
          const url = field.slice(0, cut);
          counted.add(url);
          const key = `${windowStart}${FIELD_SEPARATOR}${url}`;
          let row = rows.get(key);
          if (!row) rows.set(key, (row = { windowStart, windowEnd: windowStart + bucket, url, views: 0, revenue: null, visitors: 0, registers: new Uint8Array(M) }));
          row.views += Number(value);
        } else if (name === 'revenue') revenues.set(field.slice(0, cut), Number(value));
      }
      for (const [url, revenue] of revenues) {
        const row = counted.has(url) ? rows.get(`${windowStart}${FIELD_SEPARATOR}${url}`) : undefined;
        if (row) row.revenue = addRevenue(row.revenue, revenue);
      }
      for (const [field, bytes] of Object.entries(sketches as Record<string, Buffer>)) {
        const url = field.slice(field.indexOf(FIELD_SEPARATOR) + 1);
        if (!counted.has(url)) continue;
        PartitionSketch.mergeInto(rows.get(`${windowStart}${FIELD_SEPARATOR}${url}`)!.registers!, bytes);
      }
    });
    return rows;
  }
}

/** The handler: `GET /dash?from=&to=&bucket=<ms>&layer=merged|batch&order=views|time&limit=`, and `GET /healthz`. */
export function baselineApp(reader: DashboardReader, maxRows: number): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/dash', async (c) => {
    const rows = await reader.read({
      fromMs: Number(c.req.query('from')),
      toMs: Number(c.req.query('to')),
      bucketMs: Number(c.req.query('bucket') ?? WINDOW_MS),
      batchOnly: c.req.query('layer') === 'batch',
      orderByViews: c.req.query('order') === 'views',
      limit: Number(c.req.query('limit') ?? maxRows),
    });
    const body = rows.map((row) => ({
      windowStart: new Date(row.windowStart).toISOString(),
      windowEnd: new Date(row.windowEnd).toISOString(),
      url: row.url,
      views: row.views,
      visitors: row.visitors,
      revenue: row.revenue,
    }));
    return c.json({ rows: body });
  });
  return app;
}

/** Serves the baseline on 127.0.0.1 and a free port (@hono/node-server, as the serve bench's minimal handler). */
export async function startBaseline(options: BaselineOptions): Promise<{ url: string; close(): Promise<void> }> {
  const redis = createRedisClient(options.redisUrl, { name: 'braid-bench-baseline' });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const app = baselineApp(new DashboardReader(options, redis, connection), options.maxRows);
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started as Server)) as Server;
    started.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      connection.closeSync();
      instance.closeSync();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
