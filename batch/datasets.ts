import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BIGINT, DuckDBInstance, TIMESTAMPTZ, DuckDBTimestampTZValue, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Source } from '../shared/sources/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import type { View } from '../shared/views/index.ts';
import { viewRoot } from './view-versions.ts';
import { completeFiles, listMasterFiles } from './master-dataset.ts';
import { checkMasterSchema, readMaster } from './master-schema.ts';
import { withLock, type StillHeld } from './batch-lock.ts';
import { currentVersionIn, manifestsIn, publishVersion, stageVersion, versionFolder } from './versioned-folder.ts';

/** What a published version of a dataset says about itself (`manifest.json`). */
export interface DatasetManifest {
  readonly dataset: string;
  readonly version: number;
  /** The interval its query was bound to. */
  readonly interval: { readonly start: string; readonly end: string };
  readonly rowCount: number;
  readonly createdAt: string;
  readonly durationMs: number;
  readonly query: string;
  /** What produced it: `<workflow run>/<task>`. */
  readonly producedBy: string;
}

export function datasetRoot(dataDir: string, dataset: string): string {
  return path.join(dataDir, 'datasets', dataset);
}

/** Published versions of a dataset, oldest first. */
export function listDatasetVersions(dataDir: string, dataset: string): DatasetManifest[] {
  return manifestsIn<DatasetManifest>(datasetRoot(dataDir, dataset));
}

/** The current version's Parquet file of a dataset, or undefined before its first publish. */
export function currentDatasetFile(dataDir: string, dataset: string): string | undefined {
  const version = currentVersionIn(datasetRoot(dataDir, dataset));
  return version === null ? undefined : path.join(versionFolder(datasetRoot(dataDir, dataset), version), 'data.parquet');
}

const PARAMETERS: Readonly<Record<string, { type: DuckDBType; value: (interval: { startMs: number; endMs: number }) => DuckDBValue }>> = {
  start: { type: TIMESTAMPTZ, value: (interval) => new DuckDBTimestampTZValue(BigInt(interval.startMs) * 1000n) },
  end: { type: TIMESTAMPTZ, value: (interval) => new DuckDBTimestampTZValue(BigInt(interval.endMs) * 1000n) },
  start_ms: { type: BIGINT, value: (interval) => BigInt(interval.startMs) },
  end_ms: { type: BIGINT, value: (interval) => BigInt(interval.endMs) },
};

/**
 * Runs a DuckDB query for a workflow's interval and publishes its rows as a new version of the dataset `output`
 * (`dataDir/datasets/<output>/v<N>/`), atomically, as batch views are published. The query reads:
 * - each source's master dataset as a table named after the source;
 * - each batch view's current version as a table named after the view (window bounds and measure state columns);
 * - each dataset's current version as a table named after the dataset (so a dataset may build on its own past);
 * - `$start`, `$end` (TIMESTAMPTZ) and `$start_ms`, `$end_ms` (epoch ms): the interval.
 *
 * @example
 * await runSqlDataset({ config, sources, views, output: 'daily_revenue', interval,
 *   query: 'SELECT country, sum(amount) AS revenue FROM orders WHERE date >= $start_ms AND date < $end_ms GROUP BY ALL', producedBy: 'run/task' });
 */
export async function runSqlDataset(options: SqlDatasetOptions): Promise<DatasetManifest> {
  return withLock(options.config, `dataset:${options.output}`, (stillHeld) => runUnderLock(options, stillHeld));
}

interface SqlDatasetOptions {
  config: Config;
  sources: readonly Source[];
  views: readonly View[];
  query: string;
  output: string;
  interval: { startMs: number; endMs: number };
  producedBy: string;
}

async function runUnderLock(options: SqlDatasetOptions, stillHeld: StillHeld): Promise<DatasetManifest> {
  const { config, interval } = options;
  const started = Date.now();
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const root = datasetRoot(config.dataDir, options.output);
  let staging: string | undefined;
  try {
    const tables = new Set<string>();
    const define = async (name: string, from: string) => {
      tables.add(name);
      await connection.run(`CREATE TEMP VIEW ${sqlIdentifier(name)} AS SELECT * FROM ${from}`);
    };
    for (const source of options.sources) {
      const files = completeFiles(listMasterFiles(config.dataDir, source.name).files);
      if (files.length === 0) continue;
      const schema = await checkMasterSchema({ source, files });
      await define(source.name, readMaster(schema, source, [...new Set(files.map((file) => file.path))]));
    }
    for (const view of options.views) {
      const version = currentVersionIn(viewRoot(config.dataDir, view.name));
      if (version !== null && !tables.has(view.name)) await define(view.name, `read_parquet(${sqlStringLiteral(path.join(versionFolder(viewRoot(config.dataDir, view.name), version), 'data.parquet'))})`);
    }
    for (const dataset of datasetNames(config.dataDir)) {
      const file = currentDatasetFile(config.dataDir, dataset);
      if (file && !tables.has(dataset)) await define(dataset, `read_parquet(${sqlStringLiteral(file)})`);
    }

    const stage = stageVersion(root);
    staging = stage.staging;
    const target = path.join(stage.staging, 'data.parquet');
    let statement;
    try {
      statement = await connection.prepare(`COPY (${options.query}) TO ${sqlStringLiteral(target)} (FORMAT parquet, COMPRESSION zstd)`);
    } catch (error) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `sql for dataset ${options.output}: ${(error as Error).message}`, {
        cause: error,
        hint: `its tables: ${[...tables].join(', ') || 'none yet'}; its parameters: $start, $end, $start_ms, $end_ms`,
      });
    }
    const used = Object.keys(PARAMETERS).filter((name) => new RegExp(`\\$${name}\\b`).test(options.query));
    statement.bind(
      Object.fromEntries(used.map((name) => [name, PARAMETERS[name]!.value(interval)])),
      Object.fromEntries(used.map((name) => [name, PARAMETERS[name]!.type])),
    );
    const rowCount = Number((await statement.runAndReadAll()).getRows()[0]?.[0] ?? 0);
    const manifest: DatasetManifest = {
      dataset: options.output,
      version: stage.version,
      interval: { start: new Date(interval.startMs).toISOString(), end: new Date(interval.endMs).toISOString() },
      rowCount,
      createdAt: new Date().toISOString(),
      durationMs: Date.now() - started,
      query: options.query,
      producedBy: options.producedBy,
    };
    await stillHeld();
    publishVersion(root, stage.version, stage.staging, manifest, config.batch.keepVersions);
    staging = undefined;
    return manifest;
  } finally {
    connection.closeSync();
    instance.closeSync();
    if (staging !== undefined) rmSync(staging, { recursive: true, force: true });
  }
}

function datasetNames(dataDir: string): string[] {
  const root = path.join(dataDir, 'datasets');
  return existsSync(root) ? readdirSync(root).filter((name) => /^[a-z][a-z0-9_]*$/.test(name)) : [];
}
