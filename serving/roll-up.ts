import { alignDown, type View } from '../shared/views/index.ts';
import type { DimensionValue } from '../speed/index.ts';
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
 * Merges rows that fall in the same bucket and group with each measure's
 * monoid `merge`, then finishes the measures. With `granularityMs` null every
 * window is its own bucket (rows of the two layers for the same window and
 * group, should there be any, still merge). Inputs are left as they were.
 */
export function rollUp(view: View, rows: Iterable<StateRow>, granularityMs: number | null): ResultRow[] {
  const buckets = new Map<string, { windowStart: number; windowEnd: number; dimensions: StateRow['dimensions']; state: Record<string, unknown> }>();
  for (const row of rows) {
    const windowStart = granularityMs === null ? row.windowStart : alignDown(row.windowStart, granularityMs);
    const windowEnd = granularityMs === null ? row.windowEnd : windowStart + granularityMs;
    const key = `${windowStart}|${windowEnd}|${JSON.stringify(view.dimensions.map((d) => row.dimensions[d.name] ?? null))}`;
    const bucket = buckets.get(key);
    if (!bucket) {
      buckets.set(key, { windowStart, windowEnd, dimensions: row.dimensions, state: { ...row.state } });
      continue;
    }
    for (const { name, measure } of view.measures) bucket.state[name] = measure.merge(bucket.state[name], row.state[name]);
  }
  const result: ResultRow[] = [];
  for (const bucket of buckets.values()) {
    const measures: Record<string, unknown> = {};
    for (const { name, measure } of view.measures) measures[name] = measure.finish(bucket.state[name]);
    result.push({ windowStart: bucket.windowStart, windowEnd: bucket.windowEnd, dimensions: bucket.dimensions, measures });
  }
  return result;
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
