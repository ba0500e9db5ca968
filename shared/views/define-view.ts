import { createHash } from 'node:crypto';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Measure } from '../measures/index.ts';
import { getSource, isSource, type Source } from '../sources/index.ts';
import { canonicalTimeZone, formatDurationMs, parseDurationMs } from '../time/index.ts';
import { exprToString, field as fieldRef, isExpr, typeOf, type Expr, type ExprNode, type ValueType } from './expr/index.ts';
import { describeWindow, isCalendarWindow, windowSpanMs, type WindowSpec } from './windows.ts';

/** A group-by dimension: a source field, or a named derived expression. */
export type DimensionInput = string | { readonly name: string; readonly expr: Expr };

export interface ViewSpec {
  /** `[a-z][a-z0-9_]*`; also the GraphQL field and REST path of the view. */
  readonly name: string;
  /** The source: its name (`'clickstream'`, a source of the catalog) or the source itself (`defineSource(...)`). */
  readonly source: string | Source;
  readonly description?: string;
  /** Dimensions; none means one row per window. */
  readonly groupBy?: readonly DimensionInput[];
  readonly window: WindowSpec;
  /** Only events for which this is exactly true are counted (SQL semantics for NULL). */
  readonly filter?: Expr;
  /** Measure name → measure. */
  readonly measures: Readonly<Record<string, Measure>>;
  /** Events this long after a window's end (by watermark) still update it. Default 0. */
  readonly allowedLateness?: string | number;
  /** How long the speed layer keeps a window's data in Redis. Default 1d, or the longest window plus allowedLateness when that is longer. */
  readonly retention?: string | number;
}

export interface Dimension {
  readonly name: string;
  readonly expr: ExprNode;
  readonly type: ValueType;
  /** Set when the dimension is a plain source field. */
  readonly field: string | undefined;
}

export interface NamedMeasure {
  readonly name: string;
  readonly measure: Measure;
}

/** A validated view definition: declarative data both layers compile. */
export interface View {
  readonly name: string;
  readonly source: Source;
  readonly description: string;
  readonly dimensions: readonly Dimension[];
  readonly window: WindowSpec;
  readonly filter: ExprNode | undefined;
  readonly measures: readonly NamedMeasure[];
  readonly allowedLatenessMs: number;
  readonly retentionMs: number;
  /** Changes whenever the definition's meaning changes (used to force batch recomputes). */
  readonly definitionHash: string;
}

const NAME = /^[a-z][a-z0-9_]*$/;
const RESERVED = new Set(['window_start', 'window_end', 'windowstart', 'windowend']);
const DEFAULT_RETENTION_MS = 24 * 3_600_000;

/**
 * Declares a view. Everything is checked here, so a bad view fails at load
 * with the view and the field named.
 *
 * @example
 * export const pageViews = defineView({
 *   name: 'page_views',
 *   source: 'clickstream',
 *   groupBy: ['url'],
 *   window: tumbling('1m'),
 *   measures: { views: count(), visitors: approxDistinct('user_id'), revenue: sum('revenue') },
 *   allowedLateness: '1m',
 * });
 */
export function defineView(spec: ViewSpec): View {
  const fail = (message: string, fields: Record<string, unknown> = {}): never => {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `view ${spec.name}: ${message}`, { fields: { view: spec.name, ...fields } });
  };
  if (typeof spec.name !== 'string' || !NAME.test(spec.name)) fail('name must match [a-z][a-z0-9_]*');
  let source: Source;
  if (isSource(spec.source)) source = spec.source;
  else if (typeof spec.source !== 'string') return fail('source must be a source name or a source made by defineSource(...)');
  else {
    try {
      source = getSource(spec.source);
    } catch (error) {
      return fail(`${(error as BraidError).message} (${(error as BraidError).hint ?? ''})`, { source: spec.source });
    }
  }
  const fieldList = Object.keys(source.fields).join(', ');
  const checked = (what: string, expr: Expr | ExprNode): ValueType => {
    try {
      return typeOf(expr, source.fields);
    } catch (error) {
      return fail(`${what}: ${(error as Error).message}`);
    }
  };

  const dimensions: Dimension[] = (spec.groupBy ?? []).map((input) => {
    if (typeof input === 'string') {
      if (!source.fields[input]) fail(`groupBy: unknown field "${input}" (fields of ${source.name}: ${fieldList})`, { field: input });
      const expr = fieldRef(input);
      return { name: input, expr: expr.node, type: checked(`groupBy ${input}`, expr), field: input };
    }
    if (!input || typeof input.name !== 'string' || !isExpr(input.expr)) fail('groupBy entries are field names or { name, expr }');
    return { name: input.name, expr: input.expr.node, type: checked(`groupBy ${input.name}`, input.expr), field: undefined };
  });

  let filter: ExprNode | undefined;
  if (spec.filter !== undefined) {
    if (!isExpr(spec.filter)) fail('filter must be an expression built with the expression builder (field(), eq(), and(), …)');
    const type = checked('filter', spec.filter!);
    if (type !== 'bool') fail(`filter must be a boolean expression, got ${type}`);
    filter = spec.filter!.node;
  }

  const entries = Object.entries(spec.measures ?? {});
  if (entries.length === 0) fail('needs at least one measure');
  const measures: NamedMeasure[] = entries.map(([name, measure]) => {
    if (!NAME.test(name)) fail(`measure ${name}: name must match [a-z][a-z0-9_]*`);
    if (measure.field !== undefined) {
      const fieldSpec = source.fields[measure.field];
      if (!fieldSpec) fail(`measure ${name}: unknown field "${measure.field}" (fields of ${source.name}: ${fieldList})`, { field: measure.field });
      const type = fieldSpec!.type;
      const accepted = type === 'int' || type === 'float' || (type === 'timestampMs' && measure.fieldTypes === 'numericOrTimestamp');
      if (measure.fieldTypes !== undefined && !accepted) {
        fail(`measure ${name}: ${measure.describe()} needs a numeric field, but ${measure.field} is ${fieldSpec!.type}`, { field: measure.field });
      }
    }
    return { name, measure };
  });

  const names = [...dimensions.map((d) => d.name), ...measures.map((m) => m.name)];
  for (const name of names) {
    if (!NAME.test(name)) fail(`"${name}": names must match [a-z][a-z0-9_]*`);
    if (RESERVED.has(name)) fail(`"${name}" is reserved (window bounds are always in the rows)`);
    if (names.indexOf(name) !== names.lastIndexOf(name)) fail(`"${name}" is used twice among dimensions and measures`);
  }

  if (spec.window.type === 'session') {
    const keyed = dimensions.map((d) => d.field);
    const sameAsKafkaKey = keyed.length === source.keyFields.length && source.keyFields.every((key) => keyed.includes(key));
    if (!sameAsKafkaKey) {
      fail(
        `session windows need every event of a key in one Kafka partition, so groupBy must be the source's Kafka key (${source.keyFields.join(', ')}); got (${keyed.map((k) => k ?? 'derived').join(', ')})`,
      );
    }
  }

  const duration = (what: string, value: string | number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    const parsed = parseDurationMs(value);
    if (parsed === undefined) return fail(`${what}: expected a duration such as '30s', '5m' or '1h', got ${JSON.stringify(value)}`);
    return parsed;
  };
  const allowedLatenessMs = duration('allowedLateness', spec.allowedLateness, 0);
  if (isCalendarWindow(spec.window) && canonicalTimeZone(spec.window.timeZone) !== spec.window.timeZone) {
    fail(`window: time zone ${JSON.stringify(spec.window.timeZone)} is not a canonical IANA name; declare the window with tumbling(size, { timeZone })`);
  }
  const span = windowSpanMs(spec.window);
  // A window longer than the default retention (a zone's 25-hour day, a month) is kept for as long as it takes events.
  const retentionMs = duration('retention', spec.retention, Math.max(DEFAULT_RETENTION_MS, span + allowedLatenessMs));
  if (retentionMs < span + allowedLatenessMs) {
    // In whole hours: `ms` would round a 25-hour day to "1d".
    const longest = isCalendarWindow(spec.window) ? ` (${describeWindow(spec.window)} windows last up to ${span % 3_600_000 === 0 ? `${span / 3_600_000}h` : formatDurationMs(span)})` : '';
    fail(`retention must be at least the window size plus allowedLateness${longest}`);
  }

  const definition = {
    source: source.name,
    dimensions: dimensions.map((d) => [d.name, exprToString(d.expr)]),
    window: spec.window,
    filter: filter ? exprToString(filter) : null,
    measures: measures.map((m) => [m.name, m.measure.describe()]),
    allowedLatenessMs,
  };
  return {
    name: spec.name,
    source,
    description: spec.description ?? '',
    dimensions,
    window: spec.window,
    filter,
    measures,
    allowedLatenessMs,
    retentionMs,
    definitionHash: createHash('sha256').update(JSON.stringify(definition)).digest('hex').slice(0, 16),
  };
}

/** One line per view for listings: window, dimensions, measures. */
export function describeView(view: View): string {
  const by = view.dimensions.length > 0 ? ` by ${view.dimensions.map((d) => d.name).join(', ')}` : '';
  const measures = view.measures.map((m) => `${m.name} = ${m.measure.describe()}`).join(', ');
  return `${describeWindow(view.window)}${by}: ${measures}`;
}

export function isView(value: unknown): value is View {
  return typeof value === 'object' && value !== null && 'definitionHash' in value && 'measures' in value && 'window' in value;
}
