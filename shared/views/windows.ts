import { BraidError, ErrorCode } from '../errors/index.ts';
import {
  calendarGranularity,
  canonicalTimeZone,
  describeGranularity,
  fixedGranularity,
  formatDurationMs,
  isCalendarMultiple,
  parseCalendarUnit,
  parseDurationMs,
  timeGrid,
  UTC,
  type CalendarUnit,
  type Granularity,
} from '../time/index.ts';

/**
 * Event-time windows. Every window is `[start, end)` in epoch milliseconds.
 * Fixed sizes are aligned to the epoch (a 1-minute window starts on a whole
 * minute, UTC); calendar sizes follow a time zone's calendar (its days, ISO
 * weeks, months, quarters, years), so their length varies (a DST day is 23 or 25 hours).
 */
export type WindowSpec =
  | { readonly type: 'tumbling'; readonly sizeMs: number }
  | CalendarWindowSpec
  | { readonly type: 'sliding'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly type: 'session'; readonly gapMs: number };

/** Tumbling windows that are calendar units of a time zone. */
export interface CalendarWindowSpec {
  readonly type: 'tumbling';
  readonly unit: CalendarUnit;
  /** Canonical IANA name, e.g. `America/New_York`. */
  readonly timeZone: string;
}

export interface TumblingOptions {
  /**
   * The IANA time zone whose calendar the windows follow, for the calendar
   * sizes `1d`, `1w`, `1mo`, `1q`, `1y`. Default UTC. Other sizes are fixed
   * lengths aligned to the epoch and take no zone.
   */
  readonly timeZone?: string;
}

function durationArg(what: string, value: string | number): number {
  const parsed = parseDurationMs(value);
  if (parsed === undefined || parsed <= 0 || !Number.isInteger(parsed)) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `${what}: expected a positive duration such as '10s', '1m' or '1h', got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/**
 * Non-overlapping windows: a fixed size aligned to the epoch, or a calendar
 * unit (`1d`, `1w` = ISO week from Monday, `1mo`, `1q`, `1y`) of a time zone.
 * A UTC day is the fixed 24-hour window. `1w`, `1mo`, `1q` and `1y` are always
 * calendar units (UTC unless a zone is given).
 * @example tumbling('1m') // [12:00, 12:01), [12:01, 12:02), …
 * @example tumbling('1d', { timeZone: 'America/New_York' }) // New York days: 24 hours, or 23/25 when the clocks change
 */
export function tumbling(size: string | number, options: TumblingOptions = {}): WindowSpec {
  let timeZone = UTC;
  if (options.timeZone !== undefined) {
    const canonical = typeof options.timeZone === 'string' ? canonicalTimeZone(options.timeZone) : undefined;
    if (canonical === undefined) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `tumbling(${JSON.stringify(size)}, { timeZone }): unknown time zone ${JSON.stringify(options.timeZone)}; give an IANA name such as 'America/New_York' or 'UTC'`);
    }
    timeZone = canonical;
  }
  const unit = typeof size === 'string' ? parseCalendarUnit(size) : undefined;
  if (unit === undefined) {
    if (typeof size === 'string' && isCalendarMultiple(size)) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `tumbling(${JSON.stringify(size)}): calendar units come one at a time (1d, 1w, 1mo, 1q, 1y); a fixed length is written in days or less, e.g. '14d'`);
    }
    if (timeZone !== UTC) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `tumbling(${JSON.stringify(size)}, { timeZone }): a time zone applies to the calendar sizes 1d, 1w, 1mo, 1q and 1y; other sizes are fixed lengths aligned to the epoch`);
    }
    return { type: 'tumbling', sizeMs: durationArg('tumbling(size)', size) };
  }
  const granularity = calendarGranularity(unit, timeZone);
  return granularity.kind === 'fixed' ? { type: 'tumbling', sizeMs: granularity.stepMs } : { type: 'tumbling', unit, timeZone };
}

/**
 * Fixed-size windows that start every `slide`; each event is in size/slide windows.
 * `size` must be a whole multiple of `slide`.
 * @example sliding('5m', '1m') // [12:00, 12:05), [12:01, 12:06), …
 */
export function sliding(size: string | number, slide: string | number): WindowSpec {
  const sizeMs = durationArg('sliding(size)', size);
  const slideMs = durationArg('sliding(slide)', slide);
  if (sizeMs % slideMs !== 0) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `sliding(${formatDurationMs(sizeMs)}, ${formatDurationMs(slideMs)}): size must be a whole multiple of slide`);
  }
  return { type: 'sliding', sizeMs, slideMs };
}

/**
 * Per-key activity windows: an event at t opens `[t, t + gap)`; overlapping
 * windows of a key merge (Flink's merging-window semantics). So two events of
 * a key are in one session when less than `gap` apart.
 * @example session('30m')
 */
export function session(gap: string | number): WindowSpec {
  return { type: 'session', gapMs: durationArg('session(gap)', gap) };
}

/** True for tumbling windows that are calendar units of a time zone. */
export function isCalendarWindow(spec: WindowSpec): spec is CalendarWindowSpec {
  return spec.type === 'tumbling' && 'unit' in spec;
}

/** Start of the tumbling/sliding pane containing `timeMs` (floor to a multiple of `stepMs`, also for negative times). */
export function alignDown(timeMs: number, stepMs: number): number {
  return Math.floor(timeMs / stepMs) * stepMs;
}

/**
 * The granularity window starts lie on: a tumbling window's own (fixed or
 * calendar), a sliding window's slide. Sessions start anywhere: undefined.
 */
export function windowStartGranularity(spec: WindowSpec): Granularity | undefined {
  if (isCalendarWindow(spec)) return calendarGranularity(spec.unit, spec.timeZone);
  if (spec.type === 'tumbling') return fixedGranularity(spec.sizeMs);
  if (spec.type === 'sliding') return fixedGranularity(spec.slideMs);
  return undefined;
}

/**
 * Starts of the fixed windows containing `timeMs`, earliest first: one for
 * tumbling, size/slide for sliding. (Sessions are assigned by the session operator.)
 */
export function windowStartsFor(spec: WindowSpec, timeMs: number): number[] {
  if (isCalendarWindow(spec)) return [timeGrid(calendarGranularity(spec.unit, spec.timeZone)).startOf(timeMs)];
  if (spec.type === 'tumbling') return [alignDown(timeMs, spec.sizeMs)];
  if (spec.type === 'sliding') {
    const last = alignDown(timeMs, spec.slideMs);
    const starts: number[] = [];
    for (let start = last - spec.sizeMs + spec.slideMs; start <= last; start += spec.slideMs) starts.push(start);
    return starts;
  }
  throw new Error('session windows are assigned by the session operator');
}

/** End of the fixed (tumbling or sliding) window starting at `startMs`. */
export function windowEndFor(spec: WindowSpec, startMs: number): number {
  if (isCalendarWindow(spec)) return timeGrid(calendarGranularity(spec.unit, spec.timeZone)).endOf(startMs);
  if (spec.type === 'session') throw new Error('session windows end where their last event’s gap does');
  return startMs + spec.sizeMs;
}

/** The longest a window lasts: its size, a calendar unit's longest (25 hours for a New York day), a session's gap. */
export function windowSpanMs(spec: WindowSpec): number {
  if (isCalendarWindow(spec)) return timeGrid(calendarGranularity(spec.unit, spec.timeZone)).longestMs;
  return spec.type === 'session' ? spec.gapMs : spec.sizeMs;
}

/** Length of a fixed-size window (tumbling or sliding); calendar windows vary (see {@link windowSpanMs}). */
export function windowSizeMs(spec: WindowSpec): number {
  if (spec.type === 'session') throw new Error('session windows have no fixed size');
  if (isCalendarWindow(spec)) throw new Error(`calendar windows (${describeWindow(spec)}) vary in length`);
  return spec.sizeMs;
}

/** Short human text: `tumbling 1m`, `tumbling 1d in America/New_York`, `sliding 5m every 1m`, `session gap 30m`. */
export function describeWindow(spec: WindowSpec): string {
  if (isCalendarWindow(spec)) return `tumbling ${describeGranularity(calendarGranularity(spec.unit, spec.timeZone))}`;
  if (spec.type === 'tumbling') return `tumbling ${formatDurationMs(spec.sizeMs)}`;
  if (spec.type === 'sliding') return `sliding ${formatDurationMs(spec.sizeMs)} every ${formatDurationMs(spec.slideMs)}`;
  return `session gap ${formatDurationMs(spec.gapMs)}`;
}
