import type { CalendarUnit } from '../shared/time/index.ts';
import { isCalendarWindow, type WindowSpec } from '../shared/views/index.ts';
import { sqlLiteral } from './sql.ts';

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

/** Epoch ms of a wall-clock TIMESTAMP in `zone` (a wall-clock time the zone skips counts from the first that exists, as luxon does). */
const epochMsOf = (zone: string, wallClockTime: string) => `epoch_ms(timezone(${zone}, ${wallClockTime}))`;

/**
 * The start (epoch ms) of the tumbling window containing the BIGINT time
 * `column`: a multiple of a fixed size, or, for a calendar window, DuckDB's
 * ICU `date_trunc` (ISO weeks) on the zone's wall clock, back to epoch ms.
 * Both give the speed layer's windows (`windowStartsFor`) exactly.
 */
export function tumblingStartSql(window: TumblingWindow, column: string): string {
  if (!isCalendarWindow(window)) return floorTo(column, window.sizeMs);
  const zone = sqlLiteral(window.timeZone);
  return epochMsOf(zone, `date_trunc('${window.unit}', ${wallClock(zone, column)})`);
}

/** The end (epoch ms) of the tumbling window starting at the BIGINT `startColumn`: one calendar unit on in the zone for a calendar window. */
export function tumblingEndSql(window: TumblingWindow, startColumn: string): string {
  if (!isCalendarWindow(window)) return `${startColumn} + ${window.sizeMs}`;
  const zone = sqlLiteral(window.timeZone);
  return epochMsOf(zone, `date_trunc('${window.unit}', ${wallClock(zone, startColumn)} + ${ONE[window.unit]})`);
}
