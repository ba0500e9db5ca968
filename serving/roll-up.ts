import { fixedGranularity, timeGrid, type Granularity } from '../shared/time/index.ts';
import type { View } from '../shared/views/index.ts';
import type { DimensionValue } from '../speed/index.ts';
import type { Pacer } from '../shared/pacing/index.ts';
import type { OrderBy } from './view-query.ts';

/** A row as either layer returns it, with each measure's mergeable state. */
export interface StateRow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: Readonly<Record<string, DimensionValue>>;
  readonly state: Readonly<Record<string, unknown>>;
}

/** A row of an answer: window bounds, dimensions and finished measures. */
export interface ResultRow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: Readonly<Record<string, DimensionValue>>;
  readonly measures: Readonly<Record<string, unknown>>;
}

/**
 * Finds the bucket `[start, end)` of window starts: `find` sets `start` and
 * `end`. Calendar buckets are listed once for the rows' span and found by
 * binary search, so rolling up costs no date arithmetic per row.
 */
class BucketFinder {
  start = 0;
  end = 0;
  private readonly stepMs: number | undefined;
  private readonly boundaries: readonly number[];

  constructor(granularity: Granularity, rows: readonly StateRow[]) {
    if (granularity.kind === 'fixed') {
      this.stepMs = granularity.stepMs;
      this.boundaries = [];
      return;
    }
    this.stepMs = undefined;
    let lowest = Infinity;
    let highest = -Infinity;
    for (const row of rows) {
      if (row.windowStart < lowest) lowest = row.windowStart;
      if (row.windowStart > highest) highest = row.windowStart;
    }
    // Ascending, from the start of the first row's bucket to the end of the last row's.
    this.boundaries = lowest <= highest ? timeGrid(granularity).boundaries(lowest, highest + 1) : [];
  }

  find(timeMs: number): void {
    if (this.stepMs !== undefined) {
      this.start = Math.floor(timeMs / this.stepMs) * this.stepMs;
      this.end = this.start + this.stepMs;
      return;
    }
    const boundaries = this.boundaries;
    let low = 0;
    let high = boundaries.length - 1;
    while (high - low > 1) {
      const middle = (low + high) >>> 1;
      if (boundaries[middle]! <= timeMs) low = middle;
      else high = middle;
    }
    this.start = boundaries[low]!;
    this.end = boundaries[high]!;
  }
}

/** A bucket and group of a roll-up: its window bounds, dimensions and merged measure states. */
interface Bucket {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: StateRow['dimensions'];
  readonly state: Record<string, unknown>;
  /** The states are the bucket's own (made by a merge), not its first row's: later merges may update them in place. */
  owned: boolean;
}

/** A dimension value's part of a bucket key: typed (the text "1" is not the number 1) and length-prefixed, so no two groups share a key. */
function dimensionKey(value: DimensionValue | undefined): string {
  if (value === null || value === undefined) return '|n';
  if (typeof value === 'string') return `|s${value.length}:${value}`;
  return typeof value === 'number' ? `|d${value}` : value ? '|t' : '|f';
}

/** Rows merged by bucket and group (see {@link rollUp}), one {@link add} at a time; states are merged, not finished. */
class BucketMerger {
  private readonly buckets = new Map<string, Bucket>();
  private readonly finder: BucketFinder | null;

  constructor(
    private readonly view: View,
    rows: readonly StateRow[],
    granularity: Granularity | number | null,
  ) {
    this.finder = granularity === null ? null : new BucketFinder(typeof granularity === 'number' ? fixedGranularity(granularity) : granularity, rows);
  }

  add(row: StateRow): void {
    const { view, finder } = this;
    let windowStart = row.windowStart;
    let windowEnd = row.windowEnd;
    if (finder !== null) {
      finder.find(row.windowStart);
      windowStart = finder.start;
      windowEnd = finder.end;
    }
    let key = `${windowStart}|${windowEnd}`;
    for (const dimension of view.dimensions) key += dimensionKey(row.dimensions[dimension.name]);
    const bucket = this.buckets.get(key);
    if (!bucket) {
      this.buckets.set(key, { windowStart, windowEnd, dimensions: row.dimensions, state: { ...row.state }, owned: false });
      return;
    }
    for (const { name, measure } of view.measures) {
      const into = bucket.state[name];
      bucket.state[name] = bucket.owned && measure.mergeInto ? measure.mergeInto(into, row.state[name]) : measure.merge(into, row.state[name]);
    }
    bucket.owned = true;
  }

  result(): Bucket[] {
    return [...this.buckets.values()];
  }
}

/** A bucket as an answer row, every measure finished. */
function finishBucket(view: View, bucket: Bucket): ResultRow {
  const measures: Record<string, unknown> = {};
  for (const { name, measure } of view.measures) measures[name] = measure.finish(bucket.state[name]);
  return { windowStart: bucket.windowStart, windowEnd: bucket.windowEnd, dimensions: bucket.dimensions, measures };
}

/**
 * Merges rows that fall in the same bucket and group with each measure's
 * monoid `merge`, then finishes the measures. With `granularity` null every
 * window is its own bucket (rows of the two layers for the same window and
 * group, should there be any, still merge). A number is a fixed step in ms.
 * Inputs are left as they were.
 *
 * @example rollUp(pageViews, rows, { kind: 'calendar', unit: 'week', timeZone: 'America/New_York' })
 */
export function rollUp(view: View, rows: Iterable<StateRow>, granularity: Granularity | number | null): ResultRow[] {
  const list = Array.isArray(rows) ? (rows as readonly StateRow[]) : [...rows];
  const merger = new BucketMerger(view, list, granularity);
  for (const row of list) merger.add(row);
  return merger.result().map((bucket) => finishBucket(view, bucket));
}

/**
 * {@link rollUp}, then {@link orderAndLimit}, with the same rows as the answer, finishing only what is returned:
 * the measure the order needs for every bucket, every measure for the rows kept. A distinct count or quantiles
 * of a top 20 out of thousands of cells are finished 20 times, not thousands.
 */
export async function rollUpOrderAndLimit(
  view: View,
  rows: readonly StateRow[],
  granularity: Granularity | number | null,
  orderBy: OrderBy,
  limit: number,
  pacer?: Pacer,
): Promise<{ rows: ResultRow[]; truncated: boolean }> {
  const merger = new BucketMerger(view, rows, granularity);
  for (const row of rows) {
    merger.add(row);
    const turn = pacer?.pace();
    if (turn) await turn;
  }
  const order = view.measures.find(({ name }) => name === orderBy.field);
  const ranked: Array<ResultRow & { bucket: Bucket }> = [];
  for (const bucket of merger.result()) {
    const measures = order ? { [order.name]: order.measure.finish(bucket.state[order.name]) } : {};
    ranked.push({ windowStart: bucket.windowStart, windowEnd: bucket.windowEnd, dimensions: bucket.dimensions, measures, bucket });
    const turn = pacer?.pace();
    if (turn) await turn;
  }
  const kept = orderAndLimit(view, ranked, orderBy, limit);
  return { rows: (kept.rows as typeof ranked).map((row) => finishBucket(view, row.bucket)), truncated: kept.truncated };
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

/** Sorts rows by `orderBy` (ties: window start, then dimensions in view order) and keeps the first `limit`. */
export function orderAndLimit(view: View, rows: ResultRow[], orderBy: OrderBy, limit: number): { rows: ResultRow[]; truncated: boolean } {
  const sign = orderBy.direction === 'desc' ? -1 : 1;
  const primary = (row: ResultRow) => (orderBy.field === 'windowStart' ? row.windowStart : row.measures[orderBy.field]);
  rows.sort((a, b) => {
    const first = sign * compareValues(primary(a), primary(b));
    if (first !== 0) return first;
    const byStart = a.windowStart - b.windowStart || a.windowEnd - b.windowEnd;
    if (byStart !== 0) return byStart;
    for (const dimension of view.dimensions) {
      const byDimension = compareValues(a.dimensions[dimension.name], b.dimensions[dimension.name]);
      if (byDimension !== 0) return byDimension;
    }
    return 0;
  });
  return rows.length > limit ? { rows: rows.slice(0, limit), truncated: true } : { rows, truncated: false };
}
