import { describe, expect, it } from 'vitest';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { count } from '../../shared/measures/index.ts';
import {
  defineView,
  describeWindow,
  isCalendarWindow,
  tumbling,
  windowEndFor,
  windowSizeMs,
  windowSpanMs,
  windowStartsFor,
  type WindowSpec,
} from '../../shared/views/index.ts';
import { catchError, MINUTE_MS } from './helpers/windows.ts';

describe('calendar windows (tumbling in a time zone)', () => {
  const HOUR_MS = 60 * MINUTE_MS;
  const at = (iso: string) => Date.parse(iso);
  const newYorkDays = tumbling('1d', { timeZone: 'America/New_York' });

  it('are declared with a calendar size and a time zone, which is checked and spelled canonically', () => {
    expect(newYorkDays).toEqual({ type: 'tumbling', unit: 'day', timeZone: 'America/New_York' });
    expect(tumbling('1d', { timeZone: 'america/new_york' })).toEqual(newYorkDays);
    expect(tumbling('1mo', { timeZone: 'Europe/Berlin' })).toEqual({ type: 'tumbling', unit: 'month', timeZone: 'Europe/Berlin' });
    // A UTC day is the fixed 24-hour window (the same windows, the same definition); other units stay calendar units.
    expect(tumbling('1d')).toEqual({ type: 'tumbling', sizeMs: 24 * HOUR_MS });
    expect(tumbling('1d', { timeZone: 'Etc/UTC' })).toEqual({ type: 'tumbling', sizeMs: 24 * HOUR_MS });
    expect(tumbling('1w')).toEqual({ type: 'tumbling', unit: 'week', timeZone: 'UTC' });
    expect(tumbling('7d')).toEqual({ type: 'tumbling', sizeMs: 7 * 24 * HOUR_MS });
    expect(isCalendarWindow(newYorkDays)).toBe(true);
    expect(isCalendarWindow(tumbling('1d'))).toBe(false);
  });

  it.each([
    [() => tumbling('1d', { timeZone: 'Mars/Base' }), /unknown time zone "Mars\/Base".*IANA name such as 'America\/New_York'/],
    [() => tumbling('1h', { timeZone: 'America/New_York' }), /a time zone applies to the calendar sizes 1d, 1w, 1mo, 1q and 1y/],
    [() => tumbling('2w'), /calendar units come one at a time/],
  ])('refuses a bad declaration with CONFIG_INVALID saying why (%#)', (build, message) => {
    const error = catchError(build) as BraidError;
    expect(error).toBeInstanceOf(BraidError);
    expect(error.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(error.message).toMatch(message);
  });

  it('describe themselves with their zone and report their longest length', () => {
    expect(describeWindow(newYorkDays)).toBe('tumbling 1d in America/New_York');
    expect(describeWindow(tumbling('1q'))).toBe('tumbling 1q in UTC');
    expect(windowSpanMs(newYorkDays)).toBe(25 * HOUR_MS);
    expect(windowSpanMs(tumbling('1m'))).toBe(MINUTE_MS);
    expect(() => windowSizeMs(newYorkDays)).toThrow(/vary in length/);
  });

  it.each([
    // The 23-hour day: New York's 2026-03-08 runs from 05:00Z to 04:00Z the next day.
    ['2026-03-08T04:59:59.999Z', '2026-03-07T05:00:00Z', '2026-03-08T05:00:00Z'],
    ['2026-03-08T05:00:00.000Z', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'],
    ['2026-03-08T07:00:00.000Z', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'],
    ['2026-03-09T03:59:59.999Z', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'],
    ['2026-03-09T04:00:00.000Z', '2026-03-09T04:00:00Z', '2026-03-10T04:00:00Z'],
    // The 25-hour day: 2026-11-01 runs from 04:00Z to 05:00Z the next day, 01:00–02:00 twice.
    ['2026-11-01T05:30:00.000Z', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z'],
    ['2026-11-01T06:30:00.000Z', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z'],
    ['2026-11-02T04:59:59.999Z', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z'],
  ])('put an event at %s in the New York day [%s, %s)', (event, start, end) => {
    expect(windowStartsFor(newYorkDays, at(event))).toEqual([at(start)]);
    expect(windowEndFor(newYorkDays, at(start))).toBe(at(end));
  });

  it('put the week of a DST change in one ISO week, Monday to Monday, of 167 or 169 hours', () => {
    const berlinWeeks = tumbling('1w', { timeZone: 'Europe/Berlin' });
    const [spring] = windowStartsFor(berlinWeeks, at('2026-03-29T12:00:00Z'));
    expect(spring).toBe(at('2026-03-22T23:00:00Z'));
    expect(windowEndFor(berlinWeeks, spring!) - spring!).toBe(167 * HOUR_MS);
    const [autumn] = windowStartsFor(berlinWeeks, at('2026-10-25T12:00:00Z'));
    expect(autumn).toBe(at('2026-10-18T22:00:00Z'));
    expect(windowEndFor(berlinWeeks, autumn!) - autumn!).toBe(169 * HOUR_MS);
  });

  it('are part of the definition: its hash changes with the zone, and a long window gets the retention it needs', () => {
    const daily = (window: WindowSpec) => defineView({ name: 'daily', source: 'clickstream', window, measures: { views: count() }, allowedLateness: '1h' });
    const hashes = [tumbling('1d'), newYorkDays, tumbling('1d', { timeZone: 'Europe/Berlin' })].map((window) => daily(window).definitionHash);
    expect(new Set(hashes).size).toBe(3);
    expect(daily(tumbling('1d')).definitionHash).toBe(daily(tumbling(24 * HOUR_MS)).definitionHash);
    // Default retention: the longest window plus allowed lateness, when that is more than a day.
    expect(daily(newYorkDays).retentionMs).toBe(26 * HOUR_MS);
    expect(() => defineView({ name: 'daily', source: 'clickstream', window: newYorkDays, measures: { views: count() }, retention: '1d' })).toThrow(
      /retention must be at least the window size plus allowedLateness \(tumbling 1d in America\/New_York windows last up to 25h\)/,
    );
  });
});
