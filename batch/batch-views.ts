import { rmSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { redisHllPosition } from '../shared/measures/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import { timeGrid } from '../shared/time/index.ts';
import { windowSpanMs, windowStartGranularity, type View } from '../shared/views/index.ts';
import { compileView, type PositionTable } from './compile-view.ts';
import { withLock, type StillHeld } from './batch-lock.ts';
import { currentVersionIn, manifestOf, manifestsIn, publishVersion, stageVersion, versionFolder } from './versioned-folder.ts';
import { createRedisClient } from '../shared/clients/index.ts';
import { handOverToBatch, SpeedKeys } from '../shared/speed-contract/index.ts';
import { completeFiles, listMasterFiles, newestEventByPartition, type MasterFile } from './master-dataset.ts';
import { checkMasterSchema, readMaster } from './master-schema.ts';

/** What a published version says about itself (`manifest.json`). */
export interface BatchManifest {
  readonly view: string;
  readonly version: number;
  readonly definitionHash: string;
  /** Windows ending at or before this are authoritative in this version. */
  readonly cutoffMs: number;
  readonly createdAt: string;
  readonly durationMs: number;
  readonly rowCount: number;
  /** Measure state is kept in typed Parquet columns (see compileView). */
  readonly stateColumns: 'typed';
  /** Where the run's time went, in ms: `cutoff` (finding the default cutoff), `sketchPositions` (hashing approxDistinct values), `query` (the compiled SQL, written to Parquet). */
  readonly timingsMs?: Readonly<Record<string, number>>;
  /** The master files this version covers, with their offset coverage. */
  readonly inputs: ReadonlyArray<{ file: string; partition: number; firstOffset: number; lastOffset: number }>;
  /** `full`, or `incremental` (only windows touching `recomputedRanges` were recomputed; the rest came from the previous version). */
  readonly mode: 'full' | 'incremental';
  /** Why a requested incremental run was full, when it was. */
  readonly fullBecause?: string;
  /** Event-time ranges (ISO-8601, both ends included) whose windows an incremental run recomputed. */
  readonly recomputedRanges?: ReadonlyArray<{ readonly from: string; readonly to: string }>;
}

export interface BatchRow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: Record<string, string | number | boolean | null>;
  readonly measures: Record<string, unknown>;
  readonly state?: Record<string, unknown>;
}


export function viewRoot(dataDir: string, view: string): string {
  return path.join(dataDir, 'views', view);
}

function versionDir(dataDir: string, view: string, version: number): string {
  return versionFolder(viewRoot(dataDir, view), version);
}

/** Published versions of a view, oldest first. */
export function listVersions(dataDir: string, view: string): BatchManifest[] {
  return manifestsIn<BatchManifest>(viewRoot(dataDir, view));
}

/** The version readers use now (the pointer), or null before the first publish. */
export function currentVersion(dataDir: string, view: string): number | null {
  return currentVersionIn(viewRoot(dataDir, view));
}

export interface RecomputeOptions {
  config: Config;
  view: View;
  /** Default: the latest window end that is safely complete in the master dataset. */
  cutoffMs?: number;
  /**
   * Recompute only the windows touching the event-time ranges of files new
   * since the current version (or that fell below the cutoff since), taking
   * the rest from that version. Falls back to a full recompute when there is
   * no previous version, the definition changed, or the view has session windows.
   */
  incremental?: boolean;
  /**
   * A workflow run's data interval: its windows are recomputed whatever files are new (incrementally, with the
   * rest kept), and the cutoff moves to the interval's end at most, never back: a run of an old interval (a
   * backfill) recomputes that interval and leaves the cutoff where it is. Implies `incremental`.
   */
  interval?: { readonly startMs: number; readonly endMs: number };
}

/**
 * Recomputes a view from the master dataset with DuckDB and publishes it as a
 * new version: Parquet plus a manifest in `views/<view>/v<N>/`, made visible
 * by renaming the finished folder into place and then swapping the `CURRENT`
 * pointer (also by rename). A reader that pinned version N keeps reading N.
 */
export async function recomputeView(options: RecomputeOptions): Promise<BatchManifest> {
  return withLock(options.config, `view:${options.view.name}`, (stillHeld) => recomputeUnderLock(options, stillHeld));
}

async function recomputeUnderLock(options: RecomputeOptions, stillHeld: StillHeld): Promise<BatchManifest> {
  const { config, view } = options;
  const started = Date.now();
  const files = completeFiles(listMasterFiles(config.dataDir, view.source.name).files);
  if (files.length === 0) {
    throw new BraidError(ErrorCode.NOT_FOUND, `no archived events of source ${view.source.name} in ${config.dataDir}/master`, {
      fields: { view: view.name },
      hint: 'run `npx braid archive` first',
    });
  }
  const connection = await (await recomputeEngine()).connect();
  let staging: string | undefined;
  try {
    const timingsMs: Record<string, number> = {};
    const timed = async <T>(stage: string, work: () => Promise<T>): Promise<T> => {
      const stageStarted = performance.now();
      try {
        return await work();
      } finally {
        timingsMs[stage] = Math.round(performance.now() - stageStarted);
      }
    };
    const schema = await timed('schema', () => checkMasterSchema({ source: view.source, files, views: [view] }));
    // `files` holds complete flushes only; a subset of it (incremental) is read as it is, each physical file once.
    const quotedList = (list: readonly MasterFile[]) => readMaster(schema, view.source, [...new Set(list.map((file) => file.path))]);
    const source = quotedList(files);
    const cutoffMs = options.cutoffMs ?? cutoffFor(config, view, files, options.interval);
    const plan = options.incremental || options.interval ? planIncremental(config, view, files, cutoffMs, options.interval) : { full: 'not requested' as string };

    const root = viewRoot(config.dataDir, view.name);
    const { version, staging: stagingDir } = stageVersion(root);
    staging = stagingDir;
    // The stored rows come straight out of DuckDB into Parquet: no row passes through JavaScript.
    let rows: string;
    if ('full' in plan) {
      const compiled = compileView(view, source, cutoffMs);
      await timed('sketchPositions', () => fillPositionTables(connection, compiled.positionTables));
      rows = compiled.sql;
    } else {
      // Windows touching an affected range are recomputed from the events near it (files whose event times come
      // within a window's span of it); the others are kept.
      const span = windowSpan(view);
      const reach = plan.ranges.map(([from, to]) => [from - span, to + span] as const);
      const near = files.filter((file) => reach.some(([from, to]) => file.maxTimeMs >= from && file.minTimeMs <= to));
      // Nothing new (no files, the cutoff unmoved): every row is kept.
      const touches = (alias: string) =>
        plan.ranges.length === 0 ? 'FALSE' : `(${plan.ranges.map(([from, to]) => `(${alias}.window_start <= ${to} AND ${alias}.window_end > ${from})`).join(' OR ')})`;
      const previousFile = path.join(versionDir(config.dataDir, view.name, plan.previous.version), 'data.parquet');
      rows = `SELECT * FROM read_parquet(${sqlStringLiteral(previousFile)}) AS kept WHERE NOT ${touches('kept')} AND kept.window_end <= ${cutoffMs}`;
      if (near.length > 0) {
        const compiled = compileView(view, quotedList(near), cutoffMs, { eventTimeRanges: reach });
        await timed('sketchPositions', () => fillPositionTables(connection, compiled.positionTables));
        rows += ` UNION ALL BY NAME SELECT * FROM (${compiled.sql}) AS fresh WHERE ${touches('fresh')}`;
      }
    }
    const written = await timed('query', async () =>
      (
        await connection.runAndReadAll(`COPY (${rows}) TO ${sqlStringLiteral(path.join(stagingDir, 'data.parquet'))} (FORMAT parquet, COMPRESSION zstd)`)
      ).getRows()[0]![0],
    );
    const manifest: BatchManifest = {
      view: view.name,
      version,
      definitionHash: view.definitionHash,
      cutoffMs,
      createdAt: new Date().toISOString(),
      durationMs: Date.now() - started,
      rowCount: Number(written),
      stateColumns: 'typed',
      timingsMs,
      inputs: files.map((file) => ({ file: inputName(file), partition: file.partition, firstOffset: file.firstOffset, lastOffset: file.lastOffset })),
      ...('full' in plan
        ? { mode: 'full' as const, ...(options.incremental || options.interval ? { fullBecause: plan.full } : {}) }
        : { mode: 'incremental' as const, recomputedRanges: plan.ranges.map(([from, to]) => ({ from: new Date(from).toISOString(), to: new Date(to).toISOString() })) }),
    };
    await stillHeld();
    publishVersion(root, version, stagingDir, manifest, config.batch.keepVersions);
    staging = undefined;
    await publishCutoff(config, view, manifest);
    return manifest;
  } finally {
    // Its temporary tables go with it.
    connection.closeSync();
    // A run that failed before its rename leaves no half-written version behind.
    if (staging !== undefined) rmSync(staging, { recursive: true, force: true });
  }
}

let engine: Promise<DuckDBInstance> | undefined;

/**
 * The process's one DuckDB engine for recomputes. Starting one costs 10–25 ms,
 * a tenth of a small view's whole recompute, and `braid recompute`, the dev
 * loop and (later) workflow workers recompute view after view. Each recompute
 * takes a connection of its own, so its temporary tables are its own.
 */
function recomputeEngine(): Promise<DuckDBInstance> {
  engine ??= DuckDBInstance.create(':memory:').catch((error: unknown) => {
    engine = undefined;
    throw error;
  });
  return engine;
}

/**
 * Fills the tables a compiled view joins for its approxDistinct measures:
 * each distinct value with its Redis HyperLogLog position, hashed here in
 * JavaScript (`redisHllPosition`) since SQL cannot compute Redis's hash. The
 * values are distinct over the whole input, so a value is hashed once however
 * many windows it falls in.
 */
async function fillPositionTables(connection: DuckDBConnection, tables: readonly PositionTable[]): Promise<void> {
  for (const { table, valuesSql } of tables) {
    await connection.run(`CREATE OR REPLACE TEMP TABLE ${table} (__v VARCHAR, __pos INTEGER)`);
    const values = (await connection.runAndReadAll(valuesSql)).getColumnsJS()[0] as string[];
    const appender = await connection.createAppender(table);
    try {
      for (const value of values) {
        appender.appendVarchar(value);
        appender.appendInteger(redisHllPosition(value));
        appender.endRow();
      }
    } finally {
      appender.closeSync();
    }
  }
}

/** A flush file's stable name in manifests (`<YYYY-MM-DD>/<flush file>`): unchanged by compaction. */
function inputName(file: MasterFile): string {
  return `${file.folder}/${file.name}`;
}

/** How far a window reaches: its (longest) size, or a session's gap. */
function windowSpan(view: View): number {
  return windowSpanMs(view.window);
}

/** Event-time ranges, epoch ms, both ends included. */
type TimeRanges = ReadonlyArray<readonly [number, number]>;

type IncrementalPlan = { full: string } | { previous: BatchManifest; ranges: TimeRanges };

/** Which event-time ranges an incremental run must recompute the windows of, or why it must be full. */
function planIncremental(config: Config, view: View, files: readonly MasterFile[], cutoffMs: number, interval?: RecomputeOptions['interval']): IncrementalPlan {
  const current = currentVersion(config.dataDir, view.name);
  if (current === null) return { full: 'no previous version' };
  const previous = manifestOf<BatchManifest>(viewRoot(config.dataDir, view.name), current);
  if (previous.definitionHash !== view.definitionHash) return { full: `the definition changed (${previous.definitionHash} → ${view.definitionHash})` };
  if (view.window.type === 'session') return { full: 'session windows can span any length of time' };
  if (cutoffMs < previous.cutoffMs) return { full: 'the cutoff moved back' };
  const known = new Set(previous.inputs.map((input) => input.file));
  const ranges: Array<[number, number]> = files.filter((file) => !known.has(inputName(file))).map((file) => [file.minTimeMs, file.maxTimeMs]);
  // Windows that fell below the cutoff since the previous version are new too.
  if (cutoffMs > previous.cutoffMs) ranges.push([previous.cutoffMs - windowSpan(view), cutoffMs - 1]);
  if (interval && interval.endMs > interval.startMs) ranges.push([interval.startMs, interval.endMs - 1]);
  return { previous, ranges: mergeRanges(ranges) };
}

/** Sorted, overlapping or adjacent ranges joined. */
function mergeRanges(ranges: Array<[number, number]>): TimeRanges {
  const merged: Array<[number, number]> = [];
  for (const [from, to] of ranges.sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/** The expiry handshake: tell speed and serving (through Redis) which version and cutoff now hold. */
async function publishCutoff(config: Config, view: View, manifest: BatchManifest): Promise<void> {
  const redis = createRedisClient(config.redis.url, { name: 'braid-batch' });
  try {
    await handOverToBatch(redis, new SpeedKeys(config.redis.keyPrefix), view, { version: manifest.version, cutoffMs: manifest.cutoffMs });
  } finally {
    redis.disconnect();
  }
}

/**
 * The cutoff of a recompute: the latest safely complete window end; for a workflow run's interval, no later than
 * the interval's end (aligned down to a window boundary) and never before the current version's cutoff.
 */
function cutoffFor(config: Config, view: View, files: readonly MasterFile[], interval: RecomputeOptions['interval']): number {
  const safe = defaultCutoff(files, config, view);
  if (!interval) return safe;
  const current = currentVersion(config.dataDir, view.name);
  const previous = current === null ? null : manifestOf<BatchManifest>(viewRoot(config.dataDir, view.name), current).cutoffMs;
  const starts = windowStartGranularity(view.window);
  const atIntervalEnd = Math.min(safe, starts === undefined ? interval.endMs : timeGrid(starts).startOf(interval.endMs));
  return Math.max(previous ?? -Infinity, atIntervalEnd);
}

/**
 * The latest window end that is safely complete: every archived Kafka partition has events past it by the source's
 * out-of-orderness bound plus the view's allowed lateness, aligned down to a window boundary (a multiple of the
 * size or slide, or the start of a calendar window in its time zone). The files' names say how far each partition
 * got.
 */
function defaultCutoff(files: readonly MasterFile[], config: Config, view: View): number {
  const newest = newestEventByPartition(files);
  const settings = sourceSettings(config, view.source.name);
  const safe = Math.min(...newest.values()) - settings.maxOutOfOrdernessMs - view.allowedLatenessMs;
  const starts = windowStartGranularity(view.window);
  return starts === undefined ? safe : timeGrid(starts).startOf(safe);
}



export interface BatchReadQuery {
  readonly fromMs: number;
  readonly toMs: number;
  readonly where?: Readonly<Record<string, ReadonlyArray<string | number | boolean | null>>>;
  readonly includeState?: boolean;
  /** Pin a version; default: the current one, read once for the whole request. */
  readonly version?: number;
}

/**
 * Reads published batch views from one long-lived DuckDB instance, so a
 * server pays DuckDB's start-up once, not per request. Manifests are cached:
 * a published version never changes.
 *
 * @example
 * const reader = await BatchViewReader.open(config.dataDir);
 * const { manifest, rows } = await reader.read(pageViews, { fromMs, toMs });
 * reader.close();
 */
export class BatchViewReader {
  private readonly manifests = new Map<string, BatchManifest>();

  private constructor(
    readonly dataDir: string,
    private readonly instance: DuckDBInstance,
    private readonly connection: Awaited<ReturnType<DuckDBInstance['connect']>>,
  ) {}

  static async open(dataDir: string): Promise<BatchViewReader> {
    const instance = await DuckDBInstance.create(':memory:');
    return new BatchViewReader(dataDir, instance, await instance.connect());
  }

  /** The version readers use now (read from the pointer on every call), with its manifest; null before the first publish. */
  current(view: View): BatchManifest | null {
    const version = currentVersion(this.dataDir, view.name);
    return version === null ? null : this.manifest(view, version);
  }

  manifest(view: View, version: number): BatchManifest {
    const key = `${view.name}/${version}`;
    let manifest = this.manifests.get(key);
    if (!manifest) {
      manifest = manifestOf<BatchManifest>(viewRoot(this.dataDir, view.name), version);
      this.manifests.set(key, manifest);
    }
    return manifest;
  }

  /** Rows of windows starting in [fromMs, toMs) from one pinned version (default: the current one). */
  async read(view: View, query: BatchReadQuery): Promise<{ manifest: BatchManifest | null; rows: BatchRow[] }> {
    const version = query.version ?? currentVersion(this.dataDir, view.name);
    if (version === null) return { manifest: null, rows: [] };
    const manifest = this.manifest(view, version);
    const file = path.join(versionDir(this.dataDir, view.name, version), 'data.parquet');
    const stored = (
      await this.connection.runAndReadAll(
        `SELECT * FROM read_parquet(${sqlStringLiteral(file)}) WHERE window_start >= ${Math.trunc(query.fromMs)} AND window_start < ${Math.trunc(query.toMs)} ORDER BY window_start, window_end${view.dimensions.map((d) => `, ${sqlIdentifier(d.name)}`).join('')}`,
      )
    ).getRowObjectsJS() as Array<Record<string, unknown>>;
    const rows: BatchRow[] = [];
    for (const row of stored) {
      const dimensions: Record<string, string | number | boolean | null> = {};
      for (const dimension of view.dimensions) {
        const value = row[dimension.name];
        dimensions[dimension.name] = typeof value === 'bigint' ? Number(value) : ((value as string | number | boolean | null) ?? null);
      }
      if (query.where && !Object.entries(query.where).every(([name, accepted]) => accepted.includes(dimensions[name] ?? null))) continue;
      const measures: Record<string, unknown> = {};
      const state: Record<string, unknown> = {};
      for (const { name, measure } of view.measures) {
        state[name] = measure.batch.fromStored(row[`state_${name}`]);
        measures[name] = measure.finish(state[name]);
      }
      rows.push({
        windowStart: Number(row.window_start),
        windowEnd: Number(row.window_end),
        dimensions,
        measures,
        ...(query.includeState ? { state } : {}),
      });
    }
    return { manifest, rows };
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/**
 * Reads a published batch view: rows of windows starting in [fromMs, toMs),
 * finished measures and optionally their mergeable state, from one pinned version.
 * (A one-off read; servers keep a {@link BatchViewReader}.)
 */
export async function readBatchView(dataDir: string, view: View, query: BatchReadQuery): Promise<{ manifest: BatchManifest | null; rows: BatchRow[] }> {
  const reader = await BatchViewReader.open(dataDir);
  try {
    return await reader.read(view, query);
  } finally {
    reader.close();
  }
}
