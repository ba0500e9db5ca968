import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { formatDurationMs, parseDurationMs, parseTimeMs } from '../shared/time/index.ts';
import { alignDown, type Dimension, type View } from '../shared/views/index.ts';
import type { DimensionValue } from '../speed/index.ts';

export const LAYERS = ['merged', 'batch', 'speed'] as const;
export type Layer = (typeof LAYERS)[number];

export interface OrderBy {
  /** `windowStart` or a measure name. */
  readonly field: string;
  readonly direction: 'asc' | 'desc';
}

/** A checked request for a view: what REST, GraphQL and `braid query` all turn their input into. */
export interface ViewQuery {
  readonly view: View;
  /** Windows whose start is in [fromMs, toMs); aligned outward to the granularity when rolling up. */
  readonly fromMs: number;
  readonly toMs: number;
  /** Width of the rows returned: the view's own windows, or a multiple of a tumbling window. */
  readonly granularityMs: number;
  /** True when rows are roll-ups of several windows. */
  readonly rollUp: boolean;
  readonly where: Readonly<Record<string, readonly DimensionValue[]>>;
  readonly orderBy: OrderBy;
  readonly limit: number;
  readonly layer: Layer;
}

/** What callers send, before checking: text (REST, CLI) or typed values (GraphQL). */
export interface ViewQueryInput {
  /** ISO-8601, epoch ms, `now` or `now-<duration>`. Default: `to` minus one hour. */
  readonly from?: string | number | undefined;
  /** Default: now. */
  readonly to?: string | number | undefined;
  /** A duration (`1m`, `1h`, `1d`) or milliseconds. Default: the view's window. */
  readonly granularity?: string | number | undefined;
  /** Dimension → a value, a list of values, or `{ eq, in }`. */
  readonly where?: Readonly<Record<string, unknown>> | undefined;
  /** `field` or `field:desc` / `-field`, or `{ field, direction }`. Default: windowStart ascending. */
  readonly orderBy?: string | { readonly field: string; readonly direction?: string | undefined } | undefined;
  readonly limit?: number | string | undefined;
  readonly layer?: string | undefined;
}

export interface QueryLimits {
  readonly maxRangeMs: number;
  readonly maxRangeByView: Readonly<Record<string, number>>;
  readonly maxRows: number;
}

/** The query limits of `serving.limits`. */
export function queryLimits(config: Config): QueryLimits {
  const { maxRangeMs, maxRangeByView, maxRows } = config.serving.limits;
  return { maxRangeMs, maxRangeByView, maxRows };
}

const DEFAULT_RANGE_MS = 3_600_000;

function badArgument(view: View, argument: string, message: string, hint?: string): BraidError {
  return new BraidError(ErrorCode.BAD_ARGUMENT, `${view.name}: argument \`${argument}\` ${message}`, {
    fields: { view: view.name, argument },
    ...(hint ? { hint } : {}),
  });
}

function timeArgument(view: View, argument: string, value: string | number, nowMs: number): number {
  const parsed = typeof value === 'number' ? value : parseTimeMs(value, nowMs);
  if (parsed === undefined || !Number.isFinite(parsed)) {
    throw badArgument(view, argument, `must be an ISO-8601 timestamp, epoch milliseconds, \`now\` or \`now-<duration>\`; got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** The width of a view's own rows, and whether it may be rolled up to a coarser one. */
export function naturalGranularity(view: View): { granularityMs: number; rollable: boolean } {
  switch (view.window.type) {
    case 'tumbling':
      return { granularityMs: view.window.sizeMs, rollable: true };
    case 'sliding':
      return { granularityMs: view.window.slideMs, rollable: false };
    case 'session':
      return { granularityMs: view.window.gapMs, rollable: false };
  }
}

function granularityArgument(view: View, value: string | number | undefined): { granularityMs: number; rollUp: boolean } {
  const natural = naturalGranularity(view);
  if (value === undefined || value === '') return { granularityMs: natural.granularityMs, rollUp: false };
  const parsed = parseDurationMs(value);
  if (parsed === undefined || parsed <= 0) throw badArgument(view, 'granularity', `must be a duration such as 1m, 1h or 1d; got ${JSON.stringify(value)}`);
  if (!natural.rollable) {
    if (parsed === natural.granularityMs) return { granularityMs: parsed, rollUp: false };
    const why =
      view.window.type === 'sliding'
        ? 'its sliding windows overlap, so merging them would count each event several times'
        : 'its session windows have no fixed size';
    throw badArgument(view, 'granularity', `cannot roll ${view.name} up to ${formatDurationMs(parsed)}: ${why}`, 'leave granularity out to get the view’s own windows');
  }
  if (parsed % natural.granularityMs !== 0) {
    throw badArgument(view, 'granularity', `must be a multiple of the view's ${formatDurationMs(natural.granularityMs)} window; got ${JSON.stringify(value)}`);
  }
  return { granularityMs: parsed, rollUp: parsed !== natural.granularityMs };
}

/** Coerces one filter value to the dimension's type; REST and CLI send text. */
function dimensionValue(view: View, dimension: Dimension, argument: string, value: unknown): DimensionValue {
  if (value === null) return null;
  switch (dimension.type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      break;
    case 'number': {
      const parsed = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (Number.isFinite(parsed)) return parsed;
      break;
    }
    case 'timestamp': {
      // Epoch ms, or text as `from`/`to` take it (ISO-8601, now-1h), as GraphQL's DateTime does.
      const parsed = typeof value === 'number' ? value : typeof value === 'string' ? parseTimeMs(value) : undefined;
      if (parsed !== undefined && Number.isFinite(parsed)) return parsed;
      break;
    }
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      break;
  }
  throw badArgument(view, argument, `expects ${dimension.type === 'bool' ? 'true or false' : `a ${dimension.type}`} (the type of dimension ${dimension.name}); got ${JSON.stringify(value)}`);
}

function whereArgument(view: View, where: ViewQueryInput['where']): Record<string, DimensionValue[]> {
  const result: Record<string, DimensionValue[]> = {};
  for (const [name, raw] of Object.entries(where ?? {})) {
    if (raw === undefined) continue;
    const dimension = view.dimensions.find((candidate) => candidate.name === name);
    if (!dimension) {
      const known = view.dimensions.map((d) => d.name).join(', ') || 'none';
      throw badArgument(view, `where.${name}`, `is not a dimension of ${view.name} (its dimensions: ${known})`);
    }
    let accepted: DimensionValue[];
    if (Array.isArray(raw)) {
      accepted = raw.map((value, index) => dimensionValue(view, dimension, `where.${name}[${index}]`, value));
    } else if (typeof raw === 'object' && raw !== null) {
      const filter = raw as { eq?: unknown; in?: unknown };
      const unknownKeys = Object.keys(filter).filter((key) => key !== 'eq' && key !== 'in');
      if (unknownKeys.length > 0) throw badArgument(view, `where.${name}.${unknownKeys[0]}`, 'is not a filter; use eq or in');
      const sets: DimensionValue[][] = [];
      if (filter.eq !== undefined) sets.push([dimensionValue(view, dimension, `where.${name}.eq`, filter.eq)]);
      if (filter.in !== undefined) {
        if (!Array.isArray(filter.in)) throw badArgument(view, `where.${name}.in`, 'must be a list');
        sets.push(filter.in.map((value: unknown, index: number) => dimensionValue(view, dimension, `where.${name}.in[${index}]`, value)));
      }
      if (sets.length === 0) continue;
      // eq and in together: both must hold.
      accepted = sets.reduce((a, b) => a.filter((value) => b.includes(value)));
    } else {
      accepted = [dimensionValue(view, dimension, `where.${name}`, raw)];
    }
    result[name] = accepted;
  }
  return result;
}

function orderByArgument(view: View, orderBy: ViewQueryInput['orderBy']): OrderBy {
  if (orderBy === undefined || orderBy === '') return { field: 'windowStart', direction: 'asc' };
  let field: string;
  let direction: string;
  if (typeof orderBy === 'string') {
    const descending = orderBy.startsWith('-');
    const [name, suffix] = (descending ? orderBy.slice(1) : orderBy).split(':');
    if (descending && suffix !== undefined) throw badArgument(view, 'orderBy', `give the direction once: -field or field:desc; got ${JSON.stringify(orderBy)}`);
    field = name!;
    direction = descending ? 'desc' : (suffix ?? 'asc');
  } else {
    field = orderBy.field;
    direction = orderBy.direction ?? 'asc';
  }
  direction = direction.toLowerCase();
  if (direction !== 'asc' && direction !== 'desc') throw badArgument(view, 'orderBy', `direction must be asc or desc; got ${JSON.stringify(direction)}`);
  const orderable = ['windowStart', ...view.measures.filter(({ measure }) => measure.output !== 'topK').map(({ name }) => name)];
  if (!orderable.includes(field)) throw badArgument(view, 'orderBy', `must be one of ${orderable.join(', ')}; got ${JSON.stringify(field)}`);
  return { field, direction };
}

function limitArgument(view: View, limit: ViewQueryInput['limit'], maxRows: number): number {
  if (limit === undefined || limit === '') return maxRows;
  const parsed = typeof limit === 'number' ? limit : /^\s*\d+\s*$/.test(limit) ? Number(limit) : NaN;
  if (!Number.isInteger(parsed) || parsed < 1) throw badArgument(view, 'limit', `must be a positive whole number; got ${JSON.stringify(limit)}`);
  if (parsed > maxRows) throw new BraidError(ErrorCode.LIMIT_EXCEEDED, `${view.name}: argument \`limit\` may be at most ${maxRows}; got ${parsed}`, { fields: { view: view.name, argument: 'limit' } });
  return parsed;
}

/**
 * Checks a request for a view and turns it into a {@link ViewQuery}; every
 * problem is a BAD_ARGUMENT (or LIMIT_EXCEEDED) error naming the argument.
 *
 * @example
 * parseViewQuery(pageViews, { from: 'now-1h', granularity: '5m', where: { url: '/' } }, limits);
 */
export function parseViewQuery(view: View, input: ViewQueryInput, limits: QueryLimits, nowMs = Date.now()): ViewQuery {
  const toMs = input.to === undefined || input.to === '' ? nowMs : timeArgument(view, 'to', input.to, nowMs);
  const fromMs = input.from === undefined || input.from === '' ? toMs - DEFAULT_RANGE_MS : timeArgument(view, 'from', input.from, nowMs);
  if (fromMs >= toMs) {
    throw badArgument(view, 'from', `must be before \`to\`; got from ${new Date(fromMs).toISOString()} and to ${new Date(toMs).toISOString()}`);
  }
  const { granularityMs, rollUp } = granularityArgument(view, input.granularity);
  // A roll-up row covers whole buckets, so the range grows to whole buckets; the limit applies to what is read.
  // Fixed windows start on multiples of their step, so rounding both ends up to one selects the same windows,
  // and `now-1h` asked twice within a step is the same query (a response-cache hit).
  const stepMs = view.window.type === 'session' ? null : granularityMs;
  const alignUp = (timeMs: number, step: number) => alignDown(timeMs + step - 1, step);
  const readFromMs = rollUp ? alignDown(fromMs, granularityMs) : stepMs === null ? fromMs : alignUp(fromMs, stepMs);
  const readToMs = stepMs === null ? toMs : alignUp(toMs, stepMs);
  const maxRangeMs = Object.hasOwn(limits.maxRangeByView, view.name) ? limits.maxRangeByView[view.name]! : limits.maxRangeMs;
  if (readToMs - readFromMs > maxRangeMs) {
    throw new BraidError(
      ErrorCode.LIMIT_EXCEEDED,
      `${view.name}: the range read (${new Date(readFromMs).toISOString()} to ${new Date(readToMs).toISOString()}${rollUp ? ', whole granularity buckets' : ''}) is wider than the ${formatDurationMs(maxRangeMs)} allowed`,
      { fields: { view: view.name, argument: rollUp && toMs - fromMs <= maxRangeMs ? 'granularity' : 'from' } },
    );
  }
  const layer = input.layer === undefined || input.layer === '' ? 'merged' : input.layer.toLowerCase();
  if (!(LAYERS as readonly string[]).includes(layer)) throw badArgument(view, 'layer', `must be one of ${LAYERS.join(', ')}; got ${JSON.stringify(input.layer)}`);
  return {
    view,
    fromMs: readFromMs,
    toMs: readToMs,
    granularityMs,
    rollUp,
    where: whereArgument(view, input.where),
    orderBy: orderByArgument(view, input.orderBy),
    limit: limitArgument(view, input.limit, limits.maxRows),
    layer: layer as Layer,
  };
}

/** A stable text form of a query, for cache keys. */
export function queryKey(query: ViewQuery): string {
  return JSON.stringify([query.view.name, query.view.definitionHash, query.fromMs, query.toMs, query.granularityMs, query.where, query.orderBy, query.limit, query.layer]);
}
