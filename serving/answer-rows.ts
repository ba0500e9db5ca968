import type { ViewAnswer } from './view-reader.ts';

/** Flattened rows of each answer, kept while the answer is: a cached answer is flattened once, not per request. */
const flattened = new WeakMap<ViewAnswer['rows'], Array<Record<string, unknown>>>();

/**
 * An answer's rows as both transports return them: window bounds as ISO-8601
 * text, then the dimensions and the finished measures side by side.
 */
export function flatRows(answer: ViewAnswer): Array<Record<string, unknown>> {
  let rows = flattened.get(answer.rows);
  if (!rows) {
    rows = answer.rows.map((row) => ({ windowStart: new Date(row.windowStart).toISOString(), windowEnd: new Date(row.windowEnd).toISOString(), ...row.dimensions, ...row.measures }));
    flattened.set(answer.rows, rows);
  }
  return rows;
}
