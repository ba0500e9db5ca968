import { DateTime, IANAZone } from 'luxon';
import { formatDurationMs } from './duration.ts';
import { UTC } from './time-zone.ts';

/** Calendar units of a time zone: its days, ISO weeks (Monday to Sunday), months, quarters and years. */
export type CalendarUnit = 'day' | 'week' | 'month' | 'quarter' | 'year';

/** How each calendar unit is written, in granularities and window sizes. */
export const CALENDAR_UNIT_TEXT: Readonly<Record<CalendarUnit, string>> = { day: '1d', week: '1w', month: '1mo', quarter: '1q', year: '1y' };

const DAY_MS = 86_400_000;

/** The shortest and longest a unit lasts on a clock that never shifts. */
const NOMINAL_MS: Readonly<Record<CalendarUnit, readonly [number, number]>> = {
  day: [DAY_MS, DAY_MS],
  week: [7 * DAY_MS, 7 * DAY_MS],
  month: [28 * DAY_MS, 31 * DAY_MS],
  quarter: [90 * DAY_MS, 92 * DAY_MS],
  year: [365 * DAY_MS, 366 * DAY_MS],
};

const CALENDAR_TEXT = /^\s*(?:1\s*)?(d|day|w|week|mo|month|q|quarter|y|year)\s*$/i;
const UNIT_OF: Readonly<Record<string, CalendarUnit>> = { d: 'day', day: 'day', w: 'week', week: 'week', mo: 'month', month: 'month', q: 'quarter', quarter: 'quarter', y: 'year', year: 'year' };

/**
 * The calendar unit a text names: `1d`/`day`, `1w`/`week`, `1mo`/`month`,
 * `1q`/`quarter`, `1y`/`year`; undefined for anything else (`2d`, `1h`).
 * @example parseCalendarUnit('1mo') // 'month'
 */
export function parseCalendarUnit(text: string): CalendarUnit | undefined {
  const match = CALENDAR_TEXT.exec(text);
  return match ? UNIT_OF[match[1]!.toLowerCase()] : undefined;
}

/** True for a count of weeks, months, quarters or years other than one (`2w`, `3mo`): calendar units come one at a time. */
export function isCalendarMultiple(text: string): boolean {
  return /^\s*\d+(\.\d+)?\s*(w|weeks?|mo|months?|q|quarters?|y|years?)\s*$/i.test(text) && parseCalendarUnit(text) === undefined;
}

/**
 * How time is cut into buckets `[start, end)`, as plain (JSON-safe) data:
 * fixed steps aligned to the epoch, or the calendar units of a time zone.
 */
export type Granularity =
  | { readonly kind: 'fixed'; readonly stepMs: number }
  | { readonly kind: 'calendar'; readonly unit: CalendarUnit; readonly timeZone: string };

/** Fixed, epoch-aligned steps of `stepMs`. */
export function fixedGranularity(stepMs: number): Granularity {
  return { kind: 'fixed', stepMs };
}

/**
 * Calendar units of a (canonical) time zone. A UTC day is exactly 24 hours,
 * so it is the fixed 1-day step: the two are one granularity, not two.
 * @example calendarGranularity('week', 'America/New_York')
 */
export function calendarGranularity(unit: CalendarUnit, timeZone: string): Granularity {
  return unit === 'day' && timeZone === UTC ? fixedGranularity(DAY_MS) : { kind: 'calendar', unit, timeZone };
}

export function sameGranularity(a: Granularity, b: Granularity): boolean {
  if (a.kind === 'fixed') return b.kind === 'fixed' && a.stepMs === b.stepMs;
  return b.kind === 'calendar' && a.unit === b.unit && a.timeZone === b.timeZone;
}

/** `1h`, `1d`, `1mo`: the granularity as a query would write it. */
export function granularityText(granularity: Granularity): string {
  return granularity.kind === 'fixed' ? formatDurationMs(granularity.stepMs) : CALENDAR_UNIT_TEXT[granularity.unit];
}

/** `1h`, or `1mo in America/New_York`. */
export function describeGranularity(granularity: Granularity): string {
  return granularity.kind === 'fixed' ? granularityText(granularity) : `${granularityText(granularity)} in ${granularity.timeZone}`;
}

/** A granularity made usable: bucket arithmetic on epoch milliseconds. */
export interface TimeGrid {
  readonly granularity: Granularity;
  /** Start of the bucket containing `timeMs`. */
  startOf(timeMs: number): number;
  /** End of the bucket containing `timeMs` (for a bucket start: that bucket's end). */
  endOf(timeMs: number): number;
  /** True when a bucket starts at `timeMs`. */
  isBoundary(timeMs: number): boolean;
  /** The first boundary at or after `timeMs`. */
  ceil(timeMs: number): number;
  /** The boundaries from the start of the bucket containing `fromMs` to the first boundary at or after `toMs`, ascending. */
  boundaries(fromMs: number, toMs: number): number[];
  /** The shortest and the longest a bucket lasts (a New York day: 23 and 25 hours). */
  readonly shortestMs: number;
  readonly longestMs: number;
}

/** What every grid derives from its `startOf` and `endOf`. */
abstract class Grid implements TimeGrid {
  abstract readonly granularity: Granularity;
  abstract readonly shortestMs: number;
  abstract readonly longestMs: number;
  abstract startOf(timeMs: number): number;
  abstract endOf(timeMs: number): number;

  isBoundary(timeMs: number): boolean {
    return this.startOf(timeMs) === timeMs;
  }

  ceil(timeMs: number): number {
    return this.isBoundary(timeMs) ? timeMs : this.endOf(timeMs);
  }

  boundaries(fromMs: number, toMs: number): number[] {
    const list = [this.startOf(fromMs)];
    while (list[list.length - 1]! < toMs) list.push(this.endOf(list[list.length - 1]!));
    return list;
  }
}

class FixedGrid extends Grid {
  readonly shortestMs: number;
  readonly longestMs: number;

  constructor(readonly granularity: Granularity & { kind: 'fixed' }) {
    super();
    this.shortestMs = granularity.stepMs;
    this.longestMs = granularity.stepMs;
  }

  startOf(timeMs: number): number {
    return Math.floor(timeMs / this.granularity.stepMs) * this.granularity.stepMs;
  }

  endOf(timeMs: number): number {
    return this.startOf(timeMs) + this.granularity.stepMs;
  }
}

/** Bucket ends remembered per calendar grid before the memory is cleared. */
const REMEMBERED_ENDS = 4_096;

/**
 * Calendar units of a zone, through luxon. The bucket last asked about is
 * kept, so times that fall in it (events mostly arrive in order) cost two
 * comparisons and no date arithmetic; bucket ends are remembered by start.
 */
class CalendarGrid extends Grid {
  private readonly zone: IANAZone;
  private readonly unit: CalendarUnit;
  private lastStart = Number.NaN;
  private lastEnd = Number.NaN;
  private readonly ends = new Map<number, number>();
  private lengths: readonly [number, number] | undefined;

  constructor(readonly granularity: Granularity & { kind: 'calendar' }) {
    super();
    this.zone = IANAZone.create(granularity.timeZone);
    this.unit = granularity.unit;
  }

  startOf(timeMs: number): number {
    if (timeMs >= this.lastStart && timeMs < this.lastEnd) return this.lastStart;
    let start = this.firstOccurrence(this.wallClockStart(timeMs));
    let end = this.nextBoundary(start);
    // Where a zone skips a whole day, the day of `timeMs` may have started in the skipped one.
    while (end <= timeMs) {
      start = end;
      end = this.nextBoundary(start);
    }
    this.lastStart = start;
    this.lastEnd = end;
    return start;
  }

  endOf(timeMs: number): number {
    this.startOf(timeMs);
    return this.lastEnd;
  }

  get shortestMs(): number {
    return (this.lengths ??= this.measureLengths())[0];
  }

  get longestMs(): number {
    return (this.lengths ??= this.measureLengths())[1];
  }

  /** The boundary after the bucket starting at `startMs`. */
  private nextBoundary(startMs: number): number {
    let end = this.ends.get(startMs);
    if (end === undefined) {
      end = this.firstOccurrence(
        DateTime.fromMillis(startMs, { zone: this.zone })
          .plus({ [this.unit]: 1 })
          .startOf(this.unit)
          .toMillis(),
      );
      if (this.ends.size >= REMEMBERED_ENDS) this.ends.clear();
      this.ends.set(startMs, end);
    }
    return end;
  }

  /**
   * An instant at which the unit holding `timeMs` starts on the zone's wall clock. Where local midnight does
   * not exist (clocks go forward over it), luxon, like DuckDB's ICU, starts the day at the first time that does.
   */
  private wallClockStart(timeMs: number): number {
    return DateTime.fromMillis(timeMs, { zone: this.zone }).startOf(this.unit).toMillis();
  }

  /**
   * The first instant showing the wall-clock time `startMs` shows. Where clocks go back over midnight (Cuba,
   * the Azores) it happens twice, and luxon picks by the offset it starts from; a day starts at the first.
   */
  private firstOccurrence(startMs: number): number {
    const before = this.wallClockStart(startMs - 1);
    return before < startMs && this.wallClock(before) === this.wallClock(startMs) ? before : startMs;
  }

  private wallClock(timeMs: number): number {
    return timeMs + this.zone.offset(timeMs) * 60_000;
  }

  /** A unit's nominal length widened by how far the zone's offset moves (sampled 1970–2070): 23 to 25 hours for a New York day. */
  private measureLengths(): readonly [number, number] {
    let lowest = Infinity;
    let highest = -Infinity;
    for (let timeMs = 0; timeMs < 3_155_760_000_000; timeMs += 15 * DAY_MS) {
      const offset = this.zone.offset(timeMs);
      lowest = Math.min(lowest, offset);
      highest = Math.max(highest, offset);
    }
    const spreadMs = (highest - lowest) * 60_000;
    const [shortest, longest] = NOMINAL_MS[this.unit];
    return [Math.max(1, shortest - spreadMs), longest + spreadMs];
  }
}

const calendarGrids = new Map<string, CalendarGrid>();

/**
 * The grid of a granularity. Calendar grids are shared per unit and zone, so
 * what one has worked out (bucket ends, the zone's lengths) serves every caller.
 *
 * @example
 * const weeks = timeGrid(calendarGranularity('week', 'America/New_York'));
 * weeks.startOf(Date.parse('2026-03-11T12:00:00Z')) // Monday 2026-03-09T04:00:00Z
 */
export function timeGrid(granularity: Granularity): TimeGrid {
  if (granularity.kind === 'fixed') return new FixedGrid(granularity);
  const key = `${granularity.unit}|${granularity.timeZone}`;
  let grid = calendarGrids.get(key);
  if (grid === undefined) calendarGrids.set(key, (grid = new CalendarGrid(granularity)));
  return grid;
}

/**
 * The distinct UTC offsets (ms) a zone uses in `[fromMs, toMs)`, sampled every
 * six hours (offsets hold for months); fixed, epoch-aligned buckets line up
 * with the zone's clock only when each is a whole number of buckets.
 */
export function zoneOffsetsMs(timeZone: string, fromMs: number, toMs: number): number[] {
  const zone = IANAZone.create(timeZone);
  const offsets = new Set<number>();
  for (let timeMs = fromMs; timeMs < toMs; timeMs += 6 * 3_600_000) offsets.add(zone.offset(timeMs) * 60_000);
  offsets.add(zone.offset(Math.max(fromMs, toMs - 1)) * 60_000);
  return [...offsets];
}
