import type { Source } from '../sources/index.ts';

/** Why a row cannot be sent: the full reason, and a group that gathers rows with the same problem for counting. */
export interface RowProblem {
  /** For people and the `braid-error` header, e.g. `amount: "abc" is not a number`. */
  readonly reason: string;
  /** The same problem without the value, e.g. `amount: not a number`. */
  readonly group: string;
}

/**
 * One row of a replayed file: a valid event with its Kafka key, or a bad row
 * with its problem and the row as JSON text (for the dead-letter topic).
 * `row` is 1-based: the data row (header excluded) for CSV and Parquet, the line for NDJSON.
 */
export type ReplayRow =
  | { readonly ok: true; readonly row: number; readonly event: Record<string, unknown>; readonly key: string }
  | { readonly ok: false; readonly row: number; readonly problem: RowProblem; readonly raw: string };

/**
 * A validator of rows as events of `source`: a row becomes a keyed event, or
 * a bad row naming the non-nullable fields it lacks (absent or null), or else
 * carrying the source's reason.
 *
 * @example
 * const validated = rowValidator(clickstream);
 * validated(3, { ts: 1767225600000, url: '/' }, '{"ts":1767225600000,"url":"/"}')
 * // { ok: false, row: 3, problem: { reason: 'user_id: missing; …', … }, raw: … }
 */
export function rowValidator(source: Source): (row: number, value: Record<string, unknown>, raw: string) => ReplayRow {
  const required = Object.entries(source.fields)
    .filter(([, spec]) => !spec.nullable)
    .map(([field]) => field);
  return (row, value, raw) => {
    let missing: string[] | undefined;
    for (const field of required) {
      const present = Object.hasOwn(value, field) ? value[field] : undefined;
      if (present === null || present === undefined) (missing ??= []).push(`${field}: missing`);
    }
    if (missing) {
      const reason = missing.join('; ');
      return { ok: false, row, problem: { reason, group: reason }, raw };
    }
    const result = source.validate(value);
    if (result.ok) return { ok: true, row, event: result.event, key: source.keyOf(result.event) };
    // The source's reasons name fields and problems, not values, so a reason is its own group.
    return { ok: false, row, problem: { reason: result.reason, group: result.reason }, raw };
  };
}
