import { sqlStringLiteral } from '../shared/sql/index.ts';
import type { CalendarUnit } from '../shared/time/index.ts';
import { isCalendarWindow, type WindowSpec } from '../shared/views/index.ts';

type TumblingWindow = Extract<WindowSpec, { type: 'tumbling' }>;

/**
 * Floor of a BIGINT time column to a multiple of `step`. DuckDB's `//`
 * truncates, which is the floor because event times are never negative
 * (sources reject them), and it is measurably cheaper than a modulo.
 */
export const floorTo = (column: string, step: number): string => `(${column} // ${step} * ${step})`;

const ONE: Readonly<Record<CalendarUnit, string>> = { day: 'INTERVAL 1 DAY', week: 'INTERVAL 7 DAY', month: 'INTERVAL 1 MONTH', quarter: 'INTERVAL 3 MONTH', year: 'INTERVAL 1 YEAR' };

/** The wall-clock time (TIMESTAMP) in `zone` of an epoch-ms BIGINT. */
const wallClock = (zone: string, epochMs: string) => `timezone(${zone}, timezone('UTC', epoch_ms(${epochMs})))`;

/**
 * What a tumbling window groups events by, from the BIGINT time `column`: the
 * window start for a fixed size; for a calendar window, the start of its unit
 * on the zone's wall clock (DuckDB's ICU `date_trunc`, ISO weeks), a TIMESTAMP
 * that {@link tumblingWindowsSql} turns into epoch milliseconds per window.
 */
export function tumblingKeySql(window: TumblingWindow, column: string): string {
  if (!isCalendarWindow(window)) return floorTo(column, window.sizeMs);
  return `date_trunc(${sqlStringLiteral(window.unit)}, ${wallClock(sqlStringLiteral(window.timeZone), column)})`;
}

/**
 * The grouped rows of a tumbling view with their windows in epoch ms: `sql`
 * has `__window_start` (and, for a calendar window, `__window_end`), and `end`
 * is the expression of the window's end over it. `grouped` is keyed by
 * {@link tumblingKeySql} in its `__window_start` column. A calendar window starts
 * at the first instant its wall-clock start shows (where clocks go back over
 * midnight, the first of two midnights; where they skip it, the first time
 * that exists), as the speed layer's `windowStartsFor` does; computed per
 * window, not per event.
 */
export function tumblingWindowsSql(window: TumblingWindow, grouped: string): { sql: string; end: string } {
  if (!isCalendarWindow(window)) return { sql: grouped, end: `__window_start + ${window.sizeMs}` };
  const zone = sqlStringLiteral(window.timeZone);
  const wallMs = (epochMs: string) => `epoch_ms(${wallClock(zone, epochMs)})`;
  // ICU reads a wall-clock time that happens twice as the later one; the earlier one, if any, is at the
  // offset of three hours before (no zone moves its clocks by more than two hours at once).
  const later = (local: string) => `epoch_ms(timezone(${zone}, ${local}))`;
  const earlier = (local: string, late: string) => `epoch_ms(${local}) - (${wallMs(`${late} - 10800000`)} - (${late} - 10800000))`;
  const first = (local: string, early: string, late: string) => `CASE WHEN ${early} < ${late} AND ${wallMs(early)} = epoch_ms(${local}) THEN ${early} ELSE ${late} END`;
  const sql = `SELECT * EXCLUDE (__local_end, __late_start, __late_end, __early_start, __early_end)
      REPLACE (${first('__window_start', '__early_start', '__late_start')} AS __window_start), ${first('__local_end', '__early_end', '__late_end')} AS __window_end
    FROM (SELECT *, ${earlier('__window_start', '__late_start')} AS __early_start, ${earlier('__local_end', '__late_end')} AS __early_end
      FROM (SELECT *, ${later('__window_start')} AS __late_start, ${later('__local_end')} AS __late_end
        FROM (SELECT *, __window_start + ${ONE[window.unit]} AS __local_end FROM (${grouped}))))`;
  return { sql, end: '__window_end' };
}
