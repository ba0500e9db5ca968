import { DuckDBInstance } from '@duckdb/node-api';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import type { View } from '../shared/views/index.ts';
import { currentVersion, viewDataFile, viewManifest, type BatchManifest } from './view-versions.ts';

export interface BatchReadQuery {
  readonly fromMs: number;
  readonly toMs: number;
  readonly where?: Readonly<Record<string, ReadonlyArray<string | number | boolean | null>>>;
  readonly includeState?: boolean;
  /** Finish each measure (the default); false, with `includeState`, when the caller merges and finishes the states itself. */
  readonly finish?: boolean;
  /** Pin a version; default: the current one, read once for the whole request. */
  readonly version?: number;
}

/** A window's row of a batch view: its dimension values, finished measures and, on request, their mergeable state. */
export interface BatchRow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: Record<string, string | number | boolean | null>;
  readonly measures: Record<string, unknown>;
  readonly state?: Record<string, unknown>;
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
      manifest = viewManifest(this.dataDir, view.name, version);
      this.manifests.set(key, manifest);
    }
    return manifest;
  }

  /** Rows of windows starting in [fromMs, toMs) from one pinned version (default: the current one). */
  async read(view: View, query: BatchReadQuery): Promise<{ manifest: BatchManifest | null; rows: BatchRow[] }> {
    const version = query.version ?? currentVersion(this.dataDir, view.name);
    if (version === null) return { manifest: null, rows: [] };
    const manifest = this.manifest(view, version);
    const file = viewDataFile(this.dataDir, view.name, version);
    const stored = (
      await this.connection.runAndReadAll(
        `SELECT * FROM read_parquet(${sqlStringLiteral(file)}) WHERE window_start >= ${Math.trunc(query.fromMs)} AND window_start < ${Math.trunc(query.toMs)} ORDER BY window_start, window_end${view.dimensions.map((d) => `, ${sqlIdentifier(d.name)}`).join('')}`,
      )
    ).getRowObjectsJS() as Array<Record<string, unknown>>;
    const rows: BatchRow[] = [];
    const finish = query.finish !== false || !query.includeState;
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
        if (finish) measures[name] = measure.finish(state[name]);
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
