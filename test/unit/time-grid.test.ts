import { DateTime } from 'luxon';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import {
  calendarGranularity,
  canonicalTimeZone,
  describeGranularity,
  fixedGranularity,
  formatInZone,
  granularityText,
  isCalendarMultiple,
  parseCalendarUnit,
  sameGranularity,
  timeGrid,
  zoneOffsetsMs,
  type CalendarUnit,
} from '../../shared/time/index.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const at = (iso: string) => Date.parse(iso);
const grid = (unit: CalendarUnit, zone: string) => timeGrid(calendarGranularity(unit, zone));

describe('canonicalTimeZone', () => {
  it.each([
    ['America/New_York', 'America/New_York'],
    ['america/new_york', 'America/New_York'],
    ['US/Eastern', 'US/Eastern'],
    ['GMT', 'UTC'],
    ['Europe/Berlin', 'Europe/Berlin'],
    ['Etc/UTC', 'UTC'],
    ['UTC', 'UTC'],
    [' Asia/Kolkata ', 'Asia/Kolkata'],
    ['europe/kyiv', 'europe/kyiv'],
  ])('reads %j as %j', (name, canonical) => {
    expect(canonicalTimeZone(name)).toBe(canonical);
  });

  it.each(['Mars/Base', '', 'New York', '+05:30', 'UTC+1', '../etc/passwd'])('has no zone called %j', (name) => {
    expect(canonicalTimeZone(name)).toBeUndefined();
  });
});

describe('calendar units as text', () => {
  it.each([
    ['1d', 'day'],
    ['d', 'day'],
    ['day', 'day'],
    ['1w', 'week'],
    ['1 week', 'week'],
    ['1mo', 'month'],
    ['month', 'month'],
    ['1q', 'quarter'],
    ['1y', 'year'],
    ['YEAR', 'year'],
  ])('%j is a %s', (text, unit) => {
    expect(parseCalendarUnit(text)).toBe(unit);
  });

  it.each(['2d', '1h', '1m', 'm', '1ms', '24h', '1mon', 'days'])('%j is no calendar unit', (text) => {
    expect(parseCalendarUnit(text)).toBeUndefined();
  });

  it('tells counts of weeks, months, quarters and years other than one from fixed durations', () => {
    for (const text of ['2w', '3mo', '2q', '5y', '2 weeks']) expect(isCalendarMultiple(text), text).toBe(true);
    for (const text of ['1w', '1mo', '2d', '36h', '90s']) expect(isCalendarMultiple(text), text).toBe(false);
  });

  it('makes a UTC day the fixed 24-hour step, and other units calendar ones', () => {
    expect(calendarGranularity('day', 'UTC')).toEqual(fixedGranularity(DAY_MS));
    expect(calendarGranularity('week', 'UTC')).toEqual({ kind: 'calendar', unit: 'week', timeZone: 'UTC' });
    expect(calendarGranularity('day', 'America/New_York')).toEqual({ kind: 'calendar', unit: 'day', timeZone: 'America/New_York' });
    expect(sameGranularity(calendarGranularity('day', 'UTC'), fixedGranularity(DAY_MS))).toBe(true);
    expect(sameGranularity(calendarGranularity('day', 'Europe/Berlin'), calendarGranularity('day', 'America/New_York'))).toBe(false);
  });

  it('writes granularities as a query would', () => {
    expect(granularityText(fixedGranularity(HOUR_MS))).toBe('1h');
    expect(granularityText(calendarGranularity('day', 'UTC'))).toBe('1d');
    expect(granularityText(calendarGranularity('month', 'America/New_York'))).toBe('1mo');
    expect(describeGranularity(calendarGranularity('quarter', 'Europe/Berlin'))).toBe('1q in Europe/Berlin');
    expect(describeGranularity(fixedGranularity(5 * 60_000))).toBe('5m');
  });
});

describe('calendar grids across DST changes', () => {
  // America/New_York: clocks go forward 2026-03-08 02:00 EST and back 2026-11-01 02:00 EDT.
  // Europe/Berlin: forward 2026-03-29 02:00 CET and back 2026-10-25 03:00 CEST.
  it.each([
    ['New York, the 23-hour day', 'day', 'America/New_York', '2026-03-08T12:00:00Z', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', 23 * HOUR_MS],
    ['New York, the 25-hour day', 'day', 'America/New_York', '2026-11-01T12:00:00Z', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25 * HOUR_MS],
    ['New York, the week of the spring change', 'week', 'America/New_York', '2026-03-08T12:00:00Z', '2026-03-02T05:00:00Z', '2026-03-09T04:00:00Z', 167 * HOUR_MS],
    ['New York, the week of the autumn change', 'week', 'America/New_York', '2026-10-30T12:00:00Z', '2026-10-26T04:00:00Z', '2026-11-02T05:00:00Z', 169 * HOUR_MS],
    ['Berlin, the 23-hour day', 'day', 'Europe/Berlin', '2026-03-29T12:00:00Z', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 23 * HOUR_MS],
    ['Berlin, the 25-hour day', 'day', 'Europe/Berlin', '2026-10-25T12:00:00Z', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', 25 * HOUR_MS],
    ['Berlin, the week of the spring change', 'week', 'Europe/Berlin', '2026-03-23T00:00:00Z', '2026-03-22T23:00:00Z', '2026-03-29T22:00:00Z', 167 * HOUR_MS],
    ['Berlin, the week of the autumn change', 'week', 'Europe/Berlin', '2026-10-25T22:59:59.999Z', '2026-10-18T22:00:00Z', '2026-10-25T23:00:00Z', 169 * HOUR_MS],
    ['New York, March (31 days less an hour)', 'month', 'America/New_York', '2026-03-15T00:00:00Z', '2026-03-01T05:00:00Z', '2026-04-01T04:00:00Z', 31 * DAY_MS - HOUR_MS],
    ['New York, February', 'month', 'America/New_York', '2026-02-10T00:00:00Z', '2026-02-01T05:00:00Z', '2026-03-01T05:00:00Z', 28 * DAY_MS],
    ['New York, the first quarter', 'quarter', 'America/New_York', '2026-02-10T00:00:00Z', '2026-01-01T05:00:00Z', '2026-04-01T04:00:00Z', 90 * DAY_MS - HOUR_MS],
    ['New York, 2026', 'year', 'America/New_York', '2026-07-01T00:00:00Z', '2026-01-01T05:00:00Z', '2027-01-01T05:00:00Z', 365 * DAY_MS],
    ['UTC, the ISO week of New Year 2026 (from Monday 29 December)', 'week', 'UTC', '2026-01-01T00:00:00Z', '2025-12-29T00:00:00Z', '2026-01-05T00:00:00Z', 7 * DAY_MS],
  ] as const)('%s', (_label, unit, zone, inside, start, end, lengthMs) => {
    const calendar = grid(unit, zone);
    expect(calendar.startOf(at(inside))).toBe(at(start));
    expect(calendar.endOf(at(inside))).toBe(at(end));
    expect(at(end) - at(start)).toBe(lengthMs);
    // A bucket holds its start and not its end.
    expect(calendar.startOf(at(start))).toBe(at(start));
    expect(calendar.startOf(at(end) - 1)).toBe(at(start));
    expect(calendar.startOf(at(end))).toBe(at(end));
    expect(calendar.startOf(at(start) - 1)).toBeLessThan(at(start));
    expect(calendar.isBoundary(at(start))).toBe(true);
    expect(calendar.isBoundary(at(start) + HOUR_MS)).toBe(false);
    expect(calendar.ceil(at(start) + 1)).toBe(at(end));
    expect(calendar.ceil(at(end))).toBe(at(end));
  });

  it('starts a day at the first of two midnights where clocks go back over midnight (Havana, 2026-11-01), whatever time is asked first', () => {
    // 01:00 CDT becomes 00:00 CST: midnight is at 04:00Z and again at 05:00Z; the day runs 25 hours from the first.
    // Two names of the zone, so each order starts with a grid that has worked nothing out yet.
    for (const [zone, order] of [
      ['America/Havana', ['2026-11-01T17:00:00Z', '2026-11-01T04:30:00Z', '2026-11-01T05:10:00Z']],
      ['Cuba', ['2026-11-01T05:10:00Z', '2026-11-01T17:00:00Z', '2026-11-01T04:30:00Z']],
    ] as const) {
      const havana = grid('day', zone);
      for (const time of order) {
        expect(havana.startOf(at(time)), time).toBe(at('2026-11-01T04:00:00Z'));
        expect(havana.endOf(at(time))).toBe(at('2026-11-02T05:00:00Z'));
      }
      expect(havana.startOf(at('2026-11-01T03:59:59.999Z'))).toBe(at('2026-10-31T04:00:00Z'));
    }
  });

  it('starts a day at 01:00 where clocks skip midnight (Santiago, 2026-09-06)', () => {
    const santiago = grid('day', 'America/Santiago');
    expect(santiago.startOf(at('2026-09-06T12:00:00Z'))).toBe(at('2026-09-06T04:00:00Z'));
    expect(santiago.endOf(at('2026-09-05T12:00:00Z'))).toBe(at('2026-09-06T04:00:00Z'));
  });

  it('lists the New York days around the spring change: 24, 23 and 24 hours', () => {
    const days = grid('day', 'America/New_York').boundaries(at('2026-03-07T12:00:00Z'), at('2026-03-09T12:00:00Z'));
    expect(days.map((ms) => new Date(ms).toISOString())).toEqual([
      '2026-03-07T05:00:00.000Z',
      '2026-03-08T05:00:00.000Z',
      '2026-03-09T04:00:00.000Z',
      '2026-03-10T04:00:00.000Z',
    ]);
    expect(days.slice(1).map((ms, index) => (ms - days[index]!) / HOUR_MS)).toEqual([24, 23, 24]);
  });

  it('knows how long its buckets get: 23 to 25 hours for a New York day, always 24 for Kolkata and UTC', () => {
    expect([grid('day', 'America/New_York').shortestMs, grid('day', 'America/New_York').longestMs]).toEqual([23 * HOUR_MS, 25 * HOUR_MS]);
    expect([grid('day', 'Asia/Kolkata').shortestMs, grid('day', 'Asia/Kolkata').longestMs]).toEqual([DAY_MS, DAY_MS]);
    expect([grid('week', 'UTC').shortestMs, grid('week', 'UTC').longestMs]).toEqual([7 * DAY_MS, 7 * DAY_MS]);
    expect(grid('month', 'Europe/Berlin').longestMs).toBe(31 * DAY_MS + HOUR_MS);
  });

  it('gives what luxon does for any time in any order (its remembered bucket never answers for another)', () => {
    const random = xoroshiro128plus(11);
    const zones = ['America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'];
    const units: CalendarUnit[] = ['day', 'week', 'month', 'quarter', 'year'];
    for (let trial = 0; trial < 2_000; trial++) {
      const zone = zones[uniformInt(random, 0, zones.length - 1)]!;
      const unit = units[uniformInt(random, 0, units.length - 1)]!;
      // Mostly near the previous trials (as in-order events), sometimes anywhere in 2000–2040.
      const timeMs = uniformInt(random, at('2000-01-01T00:00:00Z'), at('2040-01-01T00:00:00Z'));
      const local = DateTime.fromMillis(timeMs, { zone }).startOf(unit);
      const calendar = grid(unit, zone);
      expect(calendar.startOf(timeMs), `${unit} in ${zone} at ${new Date(timeMs).toISOString()}`).toBe(local.toMillis());
      expect(calendar.endOf(timeMs)).toBe(local.plus({ [unit]: 1 }).startOf(unit).toMillis());
      expect(calendar.startOf(timeMs + 1)).toBeLessThanOrEqual(timeMs + 1);
    }
  });
});

describe('fixed grids', () => {
  it('align to the epoch, also before it', () => {
    const hours = timeGrid(fixedGranularity(HOUR_MS));
    expect(hours.startOf(-1)).toBe(-HOUR_MS);
    expect(hours.endOf(0)).toBe(HOUR_MS);
    expect(hours.ceil(1)).toBe(HOUR_MS);
    expect(hours.isBoundary(2 * HOUR_MS)).toBe(true);
    expect(hours.boundaries(30 * 60_000, 2 * HOUR_MS)).toEqual([0, HOUR_MS, 2 * HOUR_MS]);
  });
});

describe('zone offsets', () => {
  it('lists the offsets a zone uses in a range: both of New York’s in March, one of Kolkata’s', () => {
    expect(zoneOffsetsMs('America/New_York', at('2026-03-01T00:00:00Z'), at('2026-04-01T00:00:00Z')).sort((a, b) => a - b)).toEqual([-5 * HOUR_MS, -4 * HOUR_MS]);
    expect(zoneOffsetsMs('Asia/Kolkata', at('2026-03-01T00:00:00Z'), at('2026-04-01T00:00:00Z'))).toEqual([5.5 * HOUR_MS]);
  });

  it('shows an instant on the zone’s clock', () => {
    expect(formatInZone(at('2025-12-31T18:30:00Z'), 'Asia/Kolkata')).toBe('2026-01-01T00:00:00+05:30');
  });
});
