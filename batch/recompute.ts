import { rmSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { connectRedis } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { redisHllPosition } from '../shared/measures/index.ts';
import { handOverToBatch, SpeedKeys } from '../shared/speed-contract/index.ts';
import { sqlStringLiteral } from '../shared/sql/index.ts';
import type { View } from '../shared/views/index.ts';
import { withLock, type StillHeld } from './batch-lock.ts';
import { compileView, type PositionTable } from './compile-view.ts';
import { completeFiles, listMasterFiles, type MasterFile } from './master-dataset.ts';
import { checkMasterSchema, readMaster } from './master-schema.ts';
import { cutoffFor, planIncremental, windowSpan, type RecomputeInterval } from './recompute-plan.ts';
import { publishVersion, stageVersion } from './versioned-folder.ts';
import { inputName, viewDataFile, viewRoot, type BatchManifest } from './view-versions.ts';

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
  interval?: RecomputeInterval;
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
      const previousFile = viewDataFile(config.dataDir, view.name, plan.previous.version);
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
 * loop and workflow workers recompute view after view. Each recompute
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

/** The expiry handshake: tell speed and serving (through Redis) which version and cutoff now hold. */
async function publishCutoff(config: Config, view: View, manifest: BatchManifest): Promise<void> {
  const redis = await connectRedis(config.redis, { name: 'braid-batch' });
  try {
    await handOverToBatch(redis, new SpeedKeys(config.redis.keyPrefix), view, { version: manifest.version, cutoffMs: manifest.cutoffMs });
  } finally {
    redis.disconnect();
  }
}
