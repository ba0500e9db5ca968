import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import {
  calendarGranularity,
  canonicalTimeZone,
  describeGranularity,
  fixedGranularity,
  formatDurationMs,
  formatInZone,
  isCalendarMultiple,
  parseCalendarUnit,
  parseDurationMs,
  parseTimeMs,
  sameGranularity,
  timeGrid,
  UTC,
  zoneOffsetsMs,
  type Granularity,
} from '../shared/time/index.ts';
import { describeWindow, isCalendarWindow, windowStartGranularity, type Dimension, type View } from '../shared/views/index.ts';
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
  /**
   * The buckets of the rows returned: the view's own windows, or buckets of a
   * tumbling view's windows (a multiple of its size, or calendar units) whose
   * every boundary is a window boundary.
   */
  readonly granularity: Granularity;
  /** The time zone of calendar granularities (canonical IANA name). */
  readonly timeZone: string;
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
  /**
   * A fixed duration (`1m`, `1h`; epoch-aligned), a calendar unit of `timeZone`
   * (`1d`, `1w` = ISO week, `1mo`, `1q`, `1y`), or milliseconds. Default: the view's window.
   */
  readonly granularity?: string | number | undefined;
  /** IANA time zone of calendar granularities. Default: the view's own (a tumbling window in a zone), else UTC. */
  readonly timeZone?: string | undefined;
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

/**
 * The times a request may name: years 0000 to 9999. Bucket boundaries around them (a granularity is at most
 * {@link MAX_GRANULARITY_MS}) stay far inside what a JavaScript Date represents, so every time a message or an
 * answer shows is a date.
 */
const EARLIEST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');
const MAX_GRANULARITY_MS = 10_000 * 365.25 * 86_400_000;

const isNameableTime = (ms: number) => Number.isFinite(ms) && ms >= EARLIEST_MS && ms <= LATEST_MS;

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
  if (!isNameableTime(parsed)) throw badArgument(view, argument, `must be a time in the years 0000 to 9999; got ${JSON.stringify(value)}`);
  return parsed;
}

/** The buckets of a view's own rows, and whether they may be rolled up to coarser ones. */
export function naturalGranularity(view: View): { granularity: Granularity; rollable: boolean } {
  const window = view.window;
  switch (window.type) {
    case 'tumbling':
      return { granularity: windowStartGranularity(window)!, rollable: true };
    case 'sliding':
      return { granularity: fixedGranularity(window.slideMs), rollable: false };
    case 'session':
      return { granularity: fixedGranularity(window.gapMs), rollable: false };
    default: {
      const unknown: never = window;
      throw new Error(`unknown window ${JSON.stringify(unknown)}`);
    }
  }
}

/** The zone a view's own windows follow: a calendar window's, else UTC (fixed windows are epoch-aligned). */
function viewTimeZone(view: View): string {
  return isCalendarWindow(view.window) ? view.window.timeZone : UTC;
}

function timeZoneArgument(view: View, value: string | undefined): string {
  if (value === undefined || value === '') return viewTimeZone(view);
  const canonical = typeof value === 'string' ? canonicalTimeZone(value) : undefined;
  if (canonical === undefined) throw badArgument(view, 'timeZone', `must be an IANA time zone such as America/New_York, Europe/Berlin or UTC; got ${JSON.stringify(value)}`);
  return canonical;
}

function requestedGranularity(view: View, value: string | number, timeZone: string): Granularity {
  if (typeof value === 'string') {
    const unit = parseCalendarUnit(value);
    if (unit !== undefined) return calendarGranularity(unit, timeZone);
    if (isCalendarMultiple(value)) {
      throw badArgument(view, 'granularity', `calendar units come one at a time (1d, 1w, 1mo, 1q, 1y); got ${JSON.stringify(value)}`);
    }
  }
  const parsed = parseDurationMs(value);
  if (parsed === undefined || parsed <= 0) {
    throw badArgument(view, 'granularity', `must be a duration such as 1m or 1h, or a calendar unit (1d, 1w, 1mo, 1q, 1y); got ${JSON.stringify(value)}`);
  }
  if (parsed > MAX_GRANULARITY_MS) throw badArgument(view, 'granularity', `may be at most 10000 years; got ${JSON.stringify(value)}`);
  return fixedGranularity(parsed);
}

function granularityArgument(view: View, value: string | number | undefined, timeZone: string): { granularity: Granularity; rollUp: boolean } {
  const natural = naturalGranularity(view);
  if (value === undefined || value === '') return { granularity: natural.granularity, rollUp: false };
  const requested = requestedGranularity(view, value, timeZone);
  if (sameGranularity(requested, natural.granularity)) return { granularity: natural.granularity, rollUp: false };
  if (!natural.rollable) {
    const why =
      view.window.type === 'sliding'
        ? 'its sliding windows overlap, so merging them would count each event several times'
        : 'its session windows have no fixed size';
    throw badArgument(view, 'granularity', `cannot roll ${view.name} up to ${describeGranularity(requested)}: ${why}`, 'leave granularity out to get the view’s own windows');
  }
  if (requested.kind === 'fixed' && natural.granularity.kind === 'fixed' && requested.stepMs % natural.granularity.stepMs !== 0) {
    throw badArgument(view, 'granularity', `must be a multiple of the view's ${formatDurationMs(natural.granularity.stepMs)} window; got ${JSON.stringify(value)}`);
  }
  return { granularity: requested, rollUp: true };
}

/**
 * Refuses a roll-up the view's windows cannot express exactly: every bucket
 * boundary in [fromMs, toMs] must be a boundary of the view's own windows, or
 * a window would straddle two buckets. Fixed buckets are aligned to the epoch,
 * so in another zone they also need its offsets to be whole buckets.
 */
function checkExactRollUp(view: View, granularity: Granularity, timeZone: string, fromMs: number, toMs: number): void {
  const windows = windowStartGranularity(view.window)!;
  const buckets = describeGranularity(granularity);
  const straddles = (argument: string, why: string) =>
    badArgument(view, argument, `cannot roll ${view.name} up to ${buckets}: ${why}`, `every bucket boundary must be a boundary of the view's own windows (${describeWindow(view.window)})`);
  if (granularity.kind === 'fixed' && windows.kind === 'fixed') {
    // Multiples of the window size (checked with the argument) are window boundaries; what is left is the zone.
    if (timeZone === UTC) return;
    const offsetMs = zoneOffsetsMs(timeZone, fromMs, toMs).find((offset) => offset % granularity.stepMs !== 0);
    if (offsetMs !== undefined) {
      const minutes = Math.abs(offsetMs) / 60_000;
      const offset = `${offsetMs < 0 ? '-' : '+'}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
      throw straddles('timeZone', `fixed buckets are aligned to the epoch (UTC), and ${timeZone}'s offset (${offset}) is not a whole number of ${buckets}, so they would not start on its clock's ${buckets} boundaries; use a calendar unit or leave timeZone out`);
    }
    return;
  }
  const windowGrid = timeGrid(windows);
  // In the view's own zone only the unit can be wrong; in another, the zone is what moves the boundaries.
  const argument = timeZone !== viewTimeZone(view) ? 'timeZone' : 'granularity';
  if (granularity.kind === 'fixed' && granularity.stepMs < windowGrid.shortestMs) {
    throw straddles('granularity', `${buckets} is finer than the view's ${describeWindow(view.window)} windows`);
  }
  for (const boundary of timeGrid(granularity).boundaries(fromMs, toMs)) {
    if (boundary > toMs) break;
    if (!windowGrid.isBoundary(boundary)) {
      const zone = granularity.kind === 'calendar' ? granularity.timeZone : UTC;
      throw straddles(argument, `a bucket starts at ${formatInZone(boundary, zone)}, inside one of the view's ${describeWindow(view.window)} windows`);
    }
  }
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
      if (parsed !== undefined && isNameableTime(parsed)) return parsed;
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
  const orderable = ['windowStart', ...view.measures.filter(({ measure }) => measure.output.type !== 'entries').map(({ name }) => name)];
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
 * parseViewQuery(pageViews, { from: '2026-03-01', to: '2026-04-01', granularity: '1w', timeZone: 'America/New_York' }, limits);
 */
export function parseViewQuery(view: View, input: ViewQueryInput, limits: QueryLimits, nowMs = Date.now()): ViewQuery {
  const toMs = input.to === undefined || input.to === '' ? nowMs : timeArgument(view, 'to', input.to, nowMs);
  const fromMs = input.from === undefined || input.from === '' ? toMs - DEFAULT_RANGE_MS : timeArgument(view, 'from', input.from, nowMs);
  if (fromMs >= toMs) {
    throw badArgument(view, 'from', `must be before \`to\`; got from ${new Date(fromMs).toISOString()} and to ${new Date(toMs).toISOString()}`);
  }
  const timeZone = timeZoneArgument(view, input.timeZone);
  const { granularity, rollUp } = granularityArgument(view, input.granularity, timeZone);
  // A roll-up row covers whole buckets, so the range grows to whole buckets; the limit applies to what is read.
  // Fixed windows start on boundaries of their step (or calendar unit), so rounding both ends up to one selects
  // the same windows, and `now-1h` asked twice within a step is the same query (a response-cache hit).
  const startGranularity = rollUp ? granularity : windowStartGranularity(view.window);
  const grid = startGranularity === undefined ? null : timeGrid(startGranularity);
  const readFromMs = grid === null ? fromMs : rollUp ? grid.startOf(fromMs) : grid.ceil(fromMs);
  const readToMs = grid === null ? toMs : grid.ceil(toMs);
  const maxRangeMs = Object.hasOwn(limits.maxRangeByView, view.name) ? limits.maxRangeByView[view.name]! : limits.maxRangeMs;
  if (readToMs - readFromMs > maxRangeMs) {
    throw new BraidError(
      ErrorCode.LIMIT_EXCEEDED,
      `${view.name}: the range read (${new Date(readFromMs).toISOString()} to ${new Date(readToMs).toISOString()}${rollUp ? ', whole granularity buckets' : ''}) is wider than the ${formatDurationMs(maxRangeMs)} allowed`,
      { fields: { view: view.name, argument: rollUp && toMs - fromMs <= maxRangeMs ? 'granularity' : 'from' } },
    );
  }
  if (rollUp) checkExactRollUp(view, granularity, timeZone, readFromMs, readToMs);
  const layer = input.layer === undefined || input.layer === '' ? 'merged' : input.layer.toLowerCase();
  if (!(LAYERS as readonly string[]).includes(layer)) throw badArgument(view, 'layer', `must be one of ${LAYERS.join(', ')}; got ${JSON.stringify(input.layer)}`);
  return {
    view,
    fromMs: readFromMs,
    toMs: readToMs,
    granularity,
    timeZone,
    rollUp,
    where: whereArgument(view, input.where),
    orderBy: orderByArgument(view, input.orderBy),
    limit: limitArgument(view, input.limit, limits.maxRows),
    layer: layer as Layer,
  };
}

/** A stable text form of a query, for cache keys. */
export function queryKey(query: ViewQuery): string {
  return JSON.stringify([query.view.name, query.view.definitionHash, query.fromMs, query.toMs, query.granularity, query.timeZone, query.where, query.orderBy, query.limit, query.layer]);
}
