import type { BatchFace } from './batch-face.ts';
import type { SpeedFace } from './speed-face.ts';

/** A scalar of a measure's output. */
export type OutputScalar = 'string' | 'int' | 'float';

/** The record a list-valued measure returns per entry (topK's `{ value, count }`), named for GraphQL. */
export interface EntryShape {
  /** GraphQL object type name, e.g. `TopKEntry`. */
  readonly name: string;
  readonly fields: ReadonlyArray<{ readonly name: string; readonly type: OutputScalar }>;
}

/**
 * What a finished measure is, for GraphQL, REST and exports: a whole number (never null), a float (null when
 * the window has no value, as SQL's aggregates), or a list of entries.
 */
export type MeasureOutput = { readonly type: 'int' } | { readonly type: 'float' } | { readonly type: 'entries'; readonly entry: EntryShape };

/**
 * An aggregate as a monoid, with every face the layers need. `zero` is neutral for `merge`; `merge` is
 * associative; adding values one by one equals merging their singletons. That one operation serves sliding
 * windows, session merges, roll-ups to a coarser granularity, partials from several partitions and the
 * batch/speed boundary. `serialize` is stable (it is stored in Redis, for sessions).
 *
 * The faces: `speed` (how a pending delta is kept, written to Redis by the flush script and read back),
 * `batch` (the DuckDB aggregates that build its state as a typed Parquet column, and the reading back) and
 * `output` (its GraphQL and export type). The layers iterate over these; none switches on `kind`.
 */
export interface Measure<State = unknown, Out = unknown> {
  readonly kind: string;
  /** The event field aggregated; undefined for count(). */
  readonly field: string | undefined;
  /** The arguments after the field (topK's k, quantiles' fractions): with `kind` and `field`, the measure's plain-data form. */
  readonly args: readonly unknown[];
  /** The field types it aggregates: numbers only, or (min and max) timestamps as well; undefined: any. */
  readonly fieldTypes?: 'numeric' | 'numericOrTimestamp';
  readonly output: MeasureOutput;
  zero(): State;
  /** Adds one event's field value (null and undefined are skipped, as SQL aggregates do; count() counts rows). May mutate `state`. */
  add(state: State, value: unknown): State;
  /** Combines two states into a new one; the inputs are left as they were. */
  merge(a: State, b: State): State;
  /** `into` with `from` merged in, `into` updated in place where that is cheaper (a sketch); `from` is left as it was. Absent: {@link merge}. */
  mergeInto?(into: State, from: State): State;
  finish(state: State): Out;
  serialize(state: State): string;
  deserialize(text: string): State;
  /** `sum(revenue)` */
  describe(): string;
  readonly speed: SpeedFace<State>;
  readonly batch: BatchFace<State>;
}

/** Null and undefined: no value (skipped by every measure but count()). */
export const isAbsent = (value: unknown): value is null | undefined => value === null || value === undefined;

/** What identifies a measure: its kind, field and arguments, the plain-data form of a {@link Measure}. */
export interface MeasureData {
  readonly kind: string;
  readonly field: string | undefined;
  readonly args: readonly unknown[];
}

/** The plain-data form of a measure (structured-clone and JSON safe). */
export function measureToData(measure: Measure): MeasureData {
  return { kind: measure.kind, field: measure.field, args: measure.args };
}
