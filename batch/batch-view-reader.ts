import { DuckDBInstance, JSDuckDBValueConverter } from '@duckdb/node-api';
import type { Pacer } from '../shared/pacing/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import { timeGrid, type Granularity } from '../shared/time/index.ts';
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
  /** Shares the event loop while rows are converted (and stops the read when its signal aborts). */
  readonly pacer?: Pacer;
}

/** A roll-up of a batch view's windows into buckets, merged in DuckDB (see {@link BatchViewReader.readRollUp}). */
export interface BatchRollUpQuery {
  readonly fromMs: number;
  readonly toMs: number;
  /** Only windows ending at or before this (the cutoff a merged read braids at). */
  readonly endsByMs: number;
  readonly granularity: Granularity;
  readonly where?: Readonly<Record<string, ReadonlyArray<string | number | boolean | null>>>;
  readonly version: number;
  readonly pacer?: Pacer;
}

/** A bucket's row of a roll-up: its bounds, dimension values and each measure's merged state. */
export interface BatchRollUpRow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: Record<string, string | number | boolean | null>;
  readonly state: Record<string, unknown>;
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
    const sql = `SELECT * FROM read_parquet(${sqlStringLiteral(file)}) WHERE window_start >= ${Math.trunc(query.fromMs)} AND window_start < ${Math.trunc(query.toMs)} ORDER BY window_start, window_end${view.dimensions.map((d) => `, ${sqlIdentifier(d.name)}`).join('')}`;
    const rows: BatchRow[] = [];
    const finish = query.finish !== false || !query.includeState;
    await this.eachRow(sql, query.pacer, (row) => {
      const dimensions = dimensionsOf(view, row);
      if (query.where && !Object.entries(query.where).every(([name, accepted]) => accepted.includes(dimensions[name] ?? null))) return;
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
    });
    return { manifest, rows };
  }

  /**
   * The windows of one version starting in [fromMs, toMs) and ending by `endsByMs`, rolled up into the buckets
   * of `granularity` by DuckDB, each measure merged by its batch face's `rollUp`: a month of minutes reaches
   * JavaScript as one row per day and group. `scanned` is the number of windows merged. Undefined when a
   * measure has no SQL roll-up or a filter value has no SQL literal here: the caller rolls up {@link read}'s rows.
   */
  async readRollUp(view: View, query: BatchRollUpQuery): Promise<{ rows: BatchRollUpRow[]; scanned: number } | undefined> {
    if (!view.measures.every(({ measure }) => measure.batch.rollUp)) return undefined;
    const filters: string[] = [];
    for (const [name, accepted] of Object.entries(query.where ?? {})) {
      const literals = accepted.filter((value) => value !== null).map(sqlLiteral);
      if (literals.some((literal) => literal === undefined)) return undefined;
      const column = sqlIdentifier(name);
      const tests = [...(literals.length > 0 ? [`${column} IN (${literals.join(', ')})`] : []), ...(accepted.includes(null) ? [`${column} IS NULL`] : [])];
      filters.push(tests.length > 0 ? `(${tests.join(' OR ')})` : 'FALSE');
    }
    const file = viewDataFile(this.dataDir, view.name, query.version);
    const { granularity } = query;
    // Fixed steps by arithmetic (epoch-aligned, as the JavaScript roll-up); calendar units by a join to their boundaries.
    let buckets = '';
    let bucketColumns: string;
    if (granularity.kind === 'fixed') {
      const step = Math.trunc(granularity.stepMs);
      bucketColumns = `window_start - ((window_start % ${step}) + ${step}) % ${step} AS bucket_start, bucket_start + ${step} AS bucket_end`;
    } else {
      const boundaries = timeGrid(granularity).boundaries(query.fromMs, query.toMs);
      buckets = ` JOIN (SELECT unnest([${boundaries.slice(0, -1).join(', ')}]::BIGINT[]) AS b_start, unnest([${boundaries.slice(1).join(', ')}]::BIGINT[]) AS b_end) ON window_start >= b_start AND window_start < b_end`;
      bucketColumns = 'b_start AS bucket_start, b_end AS bucket_end';
    }
    const dimensions = view.dimensions.map((d) => sqlIdentifier(d.name));
    const merged = view.measures.map(({ name, measure }) => `${measure.batch.rollUp!.aggregate(sqlIdentifier(`state_${name}`))} AS ${sqlIdentifier(`state_${name}`)}`);
    const tidied = view.measures.map(({ name, measure }) => {
      const column = sqlIdentifier(`state_${name}`);
      const tidy = measure.batch.rollUp!.tidy;
      return tidy ? `${tidy(column)} AS ${column}` : column;
    });
    const windows =
      `SELECT ${bucketColumns}, * FROM read_parquet(${sqlStringLiteral(file)})${buckets} ` +
      `WHERE window_start >= ${Math.trunc(query.fromMs)} AND window_start < ${Math.trunc(query.toMs)} AND window_end <= ${Math.trunc(query.endsByMs)}` +
      filters.map((filter) => ` AND ${filter}`).join('');
    const grouped = `SELECT bucket_start, bucket_end, ${[...dimensions, 'count(*) AS scanned', ...merged].join(', ')} FROM (${windows}) GROUP BY ${['bucket_start', 'bucket_end', ...dimensions].join(', ')}`;
    const sql = `SELECT bucket_start, bucket_end, ${[...dimensions, 'scanned', ...tidied].join(', ')} FROM (${grouped})`;
    let scanned = 0;
    const rows: BatchRollUpRow[] = [];
    await this.eachRow(sql, query.pacer, (row) => {
      scanned += Number(row.scanned);
      const state: Record<string, unknown> = {};
      for (const { name, measure } of view.measures) state[name] = measure.batch.fromStored(row[`state_${name}`]);
      rows.push({ windowStart: Number(row.bucket_start), windowEnd: Number(row.bucket_end), dimensions: dimensionsOf(view, row), state });
    });
    return { rows, scanned };
  }

  /** Runs `sql` and hands `each` its rows as plain JavaScript values, a chunk (2,048 rows) converted at a time, sharing the event loop by `pacer`. */
  private async eachRow(sql: string, pacer: Pacer | undefined, each: (row: Record<string, unknown>) => void): Promise<void> {
    const result = await this.connection.run(sql);
    const names = result.columnNames();
    for (let index = 0; index < result.chunkCount; index++) {
      for (const values of result.getChunk(index).convertRows(JSDuckDBValueConverter)) {
        const row: Record<string, unknown> = {};
        for (let column = 0; column < names.length; column++) row[names[column]!] = values[column];
        each(row);
        const turn = pacer?.pace();
        if (turn) await turn;
      }
    }
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

/** A stored row's dimension values (DuckDB's BIGINTs as numbers). */
function dimensionsOf(view: View, row: Record<string, unknown>): Record<string, string | number | boolean | null> {
  const dimensions: Record<string, string | number | boolean | null> = {};
  for (const dimension of view.dimensions) {
    const value = row[dimension.name];
    dimensions[dimension.name] = typeof value === 'bigint' ? Number(value) : ((value as string | number | boolean | null) ?? null);
  }
  return dimensions;
}

/** A filter value as a DuckDB literal; undefined for a value a literal cannot stand for exactly (not a finite number). */
function sqlLiteral(value: string | number | boolean): string | undefined {
  if (typeof value === 'string') return sqlStringLiteral(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return Number.isFinite(value) ? String(value) : undefined;
}
