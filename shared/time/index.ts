export { parseDurationMs, formatDurationMs, parseTimeMs } from './duration.ts';
export { canonicalTimeZone, formatInZone, UTC } from './time-zone.ts';
export {
  CALENDAR_UNIT_TEXT,
  calendarGranularity,
  describeGranularity,
  fixedGranularity,
  granularityText,
  isCalendarMultiple,
  parseCalendarUnit,
  sameGranularity,
  timeGrid,
  zoneOffsetsMs,
  type CalendarUnit,
  type Granularity,
  type TimeGrid,
} from './time-grid.ts';
