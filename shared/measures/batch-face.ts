/**
 * The batch layer's face of a measure: the DuckDB aggregates that build its mergeable state per window and
 * group as one typed Parquet column (`state_<name>`), and the reading back of that column. The batch view
 * compiler (batch/compile-view.ts) iterates over these faces.
 */

/** A raw aggregate's column suffix and its SQL. */
export type SqlAggregate = readonly [suffix: string, sql: string];

export interface BatchFace<State> {
  /**
   * What the aggregates read: the event field's value (`value`), or the Redis HyperLogLog position of its text
   * (`hllPosition`, register × 64 + value, which SQL cannot hash: the compiler joins a table its caller fills).
   */
  readonly input: 'value' | 'hllPosition';
  /** Aggregates over `input` (the quoted column; empty for count()), each a raw column named by its suffix. */
  aggregates(input: string): readonly SqlAggregate[];
  /** A rewrite of the raw column before the state is made, in a query of its own (approxDistinct's long lists). */
  prepare?(raw: string): string;
  /** The typed state column's expression from the raw columns. */
  state(raw: (suffix: string) => string): string;
  /**
   * Sliding windows by panes: how a window's raw columns combine the raw columns of its slide-long panes (same
   * suffixes as {@link aggregates}). Absent: a sliding window aggregates each of its events.
   */
  combinePanes?(pane: (suffix: string) => string): readonly SqlAggregate[];
  /**
   * Roll-ups in DuckDB: `aggregate` merges the stored states (`stored`, a state column) of a bucket's windows
   * into one value of the state column's type, after which `tidy`, if given, rewrites it (approxDistinct keeps
   * one position per register). Absent: a reader rolls this measure's rows up with the monoid in JavaScript.
   */
  readonly rollUp?: { aggregate(stored: string): string; tidy?(merged: string): string };
  /** The state from the stored column's value, as @duckdb/node-api returns it. */
  fromStored(value: unknown): State;
}
