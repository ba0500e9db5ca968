import { CronExpressionParser, type CronExpression } from 'cron-parser';

/** A data interval `[startMs, endMs)`: what one run of a workflow covers. */
export interface Interval {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * A cron schedule in a time zone. Its firings cut time into data intervals: a run covers the interval between two
 * firings and is created at the second (Airflow's data intervals), so `0 2 * * *` in New York has daily runs from
 * 02:00 to 02:00 local time, 23 or 25 hours long when the clocks change.
 */
export interface Schedule {
  readonly expression: string;
  readonly timeZone: string;
  /** The latest firing at or before `timeMs`. */
  firingAtOrBefore(timeMs: number): number;
  /** The first firing after `timeMs`. */
  firingAfter(timeMs: number): number;
  /** The interval that ends at the latest firing at or before `timeMs`: the newest complete interval. */
  latestComplete(timeMs: number): Interval;
  /** Every complete interval starting at or after `fromMs` and ending at or before `toMs`, oldest first. */
  intervalsBetween(fromMs: number, toMs: number, limit?: number): Interval[];
  /** The interval starting exactly at the firing `startMs`, or undefined when no firing is at `startMs`. */
  intervalStartingAt(startMs: number): Interval | undefined;
}

/** Parses a cron expression (5 fields, 6 with seconds, or `@hourly`, `@daily`…) in `timeZone`; throws on a bad one. */
export function parseSchedule(expression: string, timeZone: string): Schedule {
  const at = (timeMs: number): CronExpression => CronExpressionParser.parse(expression, { tz: timeZone, currentDate: new Date(timeMs) });
  // Parse once now so a bad expression fails where the workflow is defined.
  at(Date.now()).next();
  const firingAfter = (timeMs: number) => at(timeMs).next().toDate().getTime();
  // cron-parser's `prev` is strictly before its current date: a firing exactly at `timeMs` is found from 1 ms later.
  const firingAtOrBefore = (timeMs: number) => at(timeMs + 1).prev().toDate().getTime();
  return {
    expression,
    timeZone,
    firingAfter,
    firingAtOrBefore,
    latestComplete(timeMs) {
      const endMs = firingAtOrBefore(timeMs);
      return { startMs: firingAtOrBefore(endMs - 1), endMs };
    },
    intervalsBetween(fromMs, toMs, limit = 100_000) {
      const intervals: Interval[] = [];
      let startMs = fromMs;
      if (firingAtOrBefore(startMs) !== startMs) startMs = firingAfter(startMs);
      while (intervals.length < limit) {
        const endMs = firingAfter(startMs);
        if (endMs > toMs) break;
        intervals.push({ startMs, endMs });
        startMs = endMs;
      }
      return intervals;
    },
    intervalStartingAt(startMs) {
      return firingAtOrBefore(startMs) === startMs ? { startMs, endMs: firingAfter(startMs) } : undefined;
    },
  };
}
