import { describe, expect, it } from 'vitest';
import { naturalGranularity, parseViewQuery, queryKey, type QueryLimits, type ViewQueryInput } from '../../serving/view-query.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { count } from '../../shared/measures/index.ts';
import { defineSource, type Source } from '../../shared/sources/index.ts';
import { countryMinutes, defineView, pageViews, tumbling, userSessions, type View } from '../../shared/views/index.ts';
import { probeChecks } from './fixtures/probe-checks.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const NOW_MS = Date.parse('2026-01-01T12:00:00Z');
/** A fixed, epoch-aligned granularity. */
const fixed = (stepMs: number) => ({ kind: 'fixed', stepMs });
const LIMITS: QueryLimits = { maxRangeMs: 31 * 24 * HOUR_MS, maxRangeByView: {}, maxRows: 500 };


function parse(view: View, input: ViewQueryInput, limits: QueryLimits = LIMITS) {
  return parseViewQuery(view, input, limits, NOW_MS);
}

/** The BraidError a bad request throws; fails the test when it throws nothing or something else. */
function rejection(view: View, input: ViewQueryInput, limits: QueryLimits = LIMITS): BraidError {
  try {
    parse(view, input, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(BraidError);
    return error as BraidError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

function expectBadArgument(view: View, input: ViewQueryInput, argument: string, message?: RegExp): BraidError {
  const error = rejection(view, input);
  expect(error.code).toBe(ErrorCode.BAD_ARGUMENT);
  expect(error.fields.argument).toBe(argument);
  expect(error.fields.view).toBe(view.name);
  expect(error.message).toContain(`\`${argument}\``);
  if (message) expect(error.message).toMatch(message);
  return error;
}

describe('parseViewQuery defaults', () => {
  it('reads the last hour up to now, merged, in window order, up to maxRows', () => {
    const query = parse(pageViews, {});
    expect(query.view).toBe(pageViews);
    expect(query.toMs).toBe(NOW_MS);
    expect(query.fromMs).toBe(NOW_MS - HOUR_MS);
    expect(query.granularity).toEqual(fixed(MINUTE_MS));
    expect(query.rollUp).toBe(false);
    expect(query.where).toEqual({});
    expect(query.orderBy).toEqual({ field: 'windowStart', direction: 'asc' });
    expect(query.limit).toBe(LIMITS.maxRows);
    expect(query.layer).toBe('merged');
  });

  it('treats empty text (a REST parameter given without a value) as absent', () => {
    const query = parse(pageViews, { from: '', to: '', granularity: '', orderBy: '', limit: '', layer: '' });
    expect(query).toEqual(parse(pageViews, {}));
  });

  it('puts a missing from one hour before an explicit to', () => {
    const toMs = Date.parse('2026-01-01T08:00:00Z');
    const query = parse(pageViews, { to: toMs });
    expect(query.toMs).toBe(toMs);
    expect(query.fromMs).toBe(toMs - HOUR_MS);
  });

  it('uses each view’s own windows as the natural granularity', () => {
    expect(parse(pageViews, {}).granularity).toEqual(fixed(MINUTE_MS));
    expect(parse(countryMinutes, {}).granularity).toEqual(fixed(MINUTE_MS));
    expect(parse(userSessions, {}).granularity).toEqual(fixed(30 * MINUTE_MS));
    expect(naturalGranularity(pageViews)).toEqual({ granularity: fixed(MINUTE_MS), rollable: true });
    expect(naturalGranularity(countryMinutes)).toEqual({ granularity: fixed(MINUTE_MS), rollable: false });
    expect(naturalGranularity(userSessions)).toEqual({ granularity: fixed(30 * MINUTE_MS), rollable: false });
  });
});

describe('parseViewQuery time range', () => {
  it('reads ISO-8601, epoch milliseconds as number or text, now and now-<duration>', () => {
    const fromMs = Date.parse('2026-01-01T10:00:00Z');
    const toMs = Date.parse('2026-01-01T11:00:00Z');
    expect(parse(pageViews, { from: '2026-01-01T10:00:00Z', to: '2026-01-01T11:00:00.000Z' })).toMatchObject({ fromMs, toMs });
    expect(parse(pageViews, { from: fromMs, to: toMs })).toMatchObject({ fromMs, toMs });
    expect(parse(pageViews, { from: String(fromMs), to: String(toMs) })).toMatchObject({ fromMs, toMs });
    expect(parse(pageViews, { from: 'now-2h', to: 'now' })).toMatchObject({ fromMs: NOW_MS - 2 * HOUR_MS, toMs: NOW_MS });
    expect(parse(pageViews, { from: 'now - 90m', to: 'now-30m' })).toMatchObject({ fromMs: NOW_MS - 90 * MINUTE_MS, toMs: NOW_MS - 30 * MINUTE_MS });
  });

  it('rejects from at or after to, naming from', () => {
    expectBadArgument(pageViews, { from: 'now', to: 'now' }, 'from', /must be before `to`/);
    expectBadArgument(pageViews, { from: 'now-1h', to: 'now-2h' }, 'from', /must be before `to`/);
  });

  it.each([
    ['from', { from: 'yesterday' }],
    ['from', { from: 'now-soon' }],
    ['from', { from: Number.NaN }],
    ['to', { to: 'tomorrow' }],
    ['to', { to: Number.POSITIVE_INFINITY }],
  ] as const)('rejects an unreadable %s, saying which forms it accepts', (argument, input) => {
    expectBadArgument(pageViews, input, argument, /ISO-8601.*epoch milliseconds.*now-<duration>/);
  });

  it.each([
    ['from', { from: '99999999999999999999' }],
    ['from', { from: 'now-99999999999d' }],
    ['from', { from: -62_167_219_200_001 }],
    ['to', { to: '8640000000000001' }],
    ['to', { to: 8_640_000_000_000_000 }],
    ['to', { to: '+275760-09-13T00:00:00Z' }],
  ] as const)('refuses a %s outside the years 0000 to 9999 as a BAD_ARGUMENT naming it (%j)', (argument, input) => {
    expectBadArgument(pageViews, input, argument, /years 0000 to 9999/);
  });

  it('reads the first and last milliseconds of the years 0000 to 9999', () => {
    expect(parse(pageViews, { to: '0000-01-01T00:00:00Z' }).toMs).toBe(Date.parse('0000-01-01T00:00:00Z'));
    expect(parse(pageViews, { from: '9999-12-31T23:00:00Z', to: '9999-12-31T23:59:59.999Z' }).fromMs).toBe(Date.parse('9999-12-31T23:00:00Z'));
  });

  it('refuses a range wider than maxRangeMs with LIMIT_EXCEEDED naming from', () => {
    const limits = { ...LIMITS, maxRangeMs: 2 * HOUR_MS };
    expect(parse(pageViews, { from: 'now-2h' }, limits).fromMs).toBe(NOW_MS - 2 * HOUR_MS);
    const error = rejection(pageViews, { from: 'now-2h', to: NOW_MS + 1 }, limits);
    expect(error.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(error.fields).toMatchObject({ view: 'page_views', argument: 'from' });
    expect(error.message).toMatch(/2h allowed/);
  });

  it('lets a view’s own maxRangeByView entry win over maxRangeMs, for that view only', () => {
    const limits = { ...LIMITS, maxRangeMs: 24 * HOUR_MS, maxRangeByView: { page_views: 30 * MINUTE_MS } };
    const error = rejection(pageViews, { from: 'now-31m' }, limits);
    expect(error.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(error.fields.argument).toBe('from');
    expect(parse(pageViews, { from: 'now-30m' }, limits).fromMs).toBe(NOW_MS - 30 * MINUTE_MS);
    expect(parse(userSessions, { from: 'now-12h' }, limits).fromMs).toBe(NOW_MS - 12 * HOUR_MS);
  });
});

describe('parseViewQuery granularity', () => {
  it('accepts the view’s own window without rolling up', () => {
    expect(parse(pageViews, { granularity: '1m' })).toMatchObject({ granularity: fixed(MINUTE_MS), rollUp: false });
    expect(parse(pageViews, { granularity: MINUTE_MS })).toMatchObject({ granularity: fixed(MINUTE_MS), rollUp: false });
  });

  it('rolls a tumbling view up to a multiple of its window, aligning the range outward to whole buckets', () => {
    const query = parse(pageViews, { from: '2026-01-01T10:30:00Z', to: '2026-01-01T11:30:00Z', granularity: '1h' });
    expect(query.rollUp).toBe(true);
    expect(query.granularity).toEqual(fixed(HOUR_MS));
    expect(query.fromMs).toBe(Date.parse('2026-01-01T10:00:00Z'));
    expect(query.toMs).toBe(Date.parse('2026-01-01T12:00:00Z'));
  });

  it('leaves a range already on bucket boundaries as it is', () => {
    const query = parse(pageViews, { from: '2026-01-01T10:00:00Z', to: '2026-01-01T11:00:00Z', granularity: '15m' });
    expect(query).toMatchObject({ rollUp: true, granularity: fixed(15 * MINUTE_MS) });
    expect(query.fromMs).toBe(Date.parse('2026-01-01T10:00:00Z'));
    expect(query.toMs).toBe(Date.parse('2026-01-01T11:00:00Z'));
  });

  it('rounds both ends up to the window step when not rolling up: the same windows start in the range', () => {
    const query = parse(pageViews, { from: '2026-01-01T10:30:30Z', to: '2026-01-01T11:30:30Z' });
    // Windows starting in [10:30:30, 11:30:30) are those starting in [10:31, 11:31).
    expect(query.fromMs).toBe(Date.parse('2026-01-01T10:31:00Z'));
    expect(query.toMs).toBe(Date.parse('2026-01-01T11:31:00Z'));
    expect(query.rollUp).toBe(false);
    // Two requests for "the last hour" within the same minute are the same query, so the response cache can hit.
    expect(queryKey(parseViewQuery(pageViews, { from: 'now-1h' }, LIMITS, NOW_MS + 1_000))).toBe(queryKey(parseViewQuery(pageViews, { from: 'now-1h' }, LIMITS, NOW_MS + 59_000)));
    // Sessions start anywhere: their range is taken as given.
    const sessions = parse(userSessions, { from: '2026-01-01T10:30:30Z', to: '2026-01-01T11:30:30Z' });
    expect(sessions.fromMs).toBe(Date.parse('2026-01-01T10:30:30Z'));
  });

  it.each(['soon', '-1m', '0', '0s'])('rejects %j, which is not a positive duration', (granularity) => {
    expectBadArgument(pageViews, { granularity }, 'granularity', /must be a duration such as 1m/);
  });

  it('rejects a granularity that is not a multiple of the window', () => {
    expectBadArgument(pageViews, { granularity: '90s' }, 'granularity', /multiple of the view's 1m window/);
    expectBadArgument(pageViews, { granularity: '30s' }, 'granularity', /multiple/);
  });

  it('refuses a granularity longer than 10000 years as a BAD_ARGUMENT, and keeps LIMIT_EXCEEDED for one wider than the range allowed', () => {
    expectBadArgument(pageViews, { granularity: '99999999999d' }, 'granularity', /at most 10000 years; got "99999999999d"/);
    expectBadArgument(pageViews, { granularity: 1e300 }, 'granularity', /at most 10000 years/);
    const wide = rejection(pageViews, { granularity: '3652425d' });
    expect(wide.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(wide.fields.argument).toBe('granularity');
  });

  it('refuses any roll-up of a sliding view, saying its windows overlap', () => {
    for (const granularity of ['2m', '5m', '1h']) {
      const error = expectBadArgument(countryMinutes, { granularity }, 'granularity', /sliding windows overlap/);
      expect(error.hint).toMatch(/leave granularity out/);
    }
    expect(parse(countryMinutes, { granularity: '1m' })).toMatchObject({ granularity: fixed(MINUTE_MS), rollUp: false });
  });

  it('refuses any roll-up of a session view, saying sessions have no fixed size', () => {
    for (const granularity of ['1h', '1d', '1m']) {
      expectBadArgument(userSessions, { granularity }, 'granularity', /session windows have no fixed size/);
    }
    expect(parse(userSessions, { granularity: '30m' }).rollUp).toBe(false);
  });
});

describe('parseViewQuery calendar granularities and time zones', () => {
  const at = (iso: string) => Date.parse(iso);
  const WIDE: QueryLimits = { ...LIMITS, maxRangeMs: 400 * 24 * HOUR_MS };
  const hourly = defineView({ name: 'hourly', source: 'clickstream', groupBy: ['url'], window: tumbling('1h'), measures: { views: count() } });
  const daily = defineView({ name: 'daily', source: 'clickstream', groupBy: ['url'], window: tumbling('1d'), measures: { views: count() } });
  const newYorkDays = defineView({ name: 'ny_days', source: 'clickstream', groupBy: ['url'], window: tumbling('1d', { timeZone: 'America/New_York' }), measures: { views: count() } });
  const newYorkWeeks = defineView({ name: 'ny_weeks', source: 'clickstream', window: tumbling('1w', { timeZone: 'America/New_York' }), measures: { views: count() } });
  const calendar = (unit: string, timeZone: string) => ({ kind: 'calendar', unit, timeZone });
  const spring = { from: '2026-03-04T12:00:00Z', to: '2026-03-10T00:00:00Z' };

  it('reads each calendar unit in the time zone given, and aligns the range outward to whole buckets', () => {
    const weeks = parse(pageViews, { ...spring, granularity: '1w', timeZone: 'America/New_York' });
    expect(weeks).toMatchObject({ granularity: calendar('week', 'America/New_York'), timeZone: 'America/New_York', rollUp: true });
    // Monday 2 March 00:00 EST to Monday 16 March 00:00 EDT (to falls on Monday 9 March, 20:00 EDT).
    expect([weeks.fromMs, weeks.toMs]).toEqual([at('2026-03-02T05:00:00Z'), at('2026-03-16T04:00:00Z')]);
    const months = parse(pageViews, { from: '2026-03-10T00:00:00Z', to: '2026-03-20T00:00:00Z', granularity: 'month', timeZone: 'america/new_york' });
    expect(months).toMatchObject({ granularity: calendar('month', 'America/New_York'), timeZone: 'America/New_York' });
    expect([months.fromMs, months.toMs]).toEqual([at('2026-03-01T05:00:00Z'), at('2026-04-01T04:00:00Z')]);
    expect(parseViewQuery(pageViews, { ...spring, granularity: '1q', timeZone: 'Europe/Berlin' }, WIDE, NOW_MS)).toMatchObject({
      granularity: calendar('quarter', 'Europe/Berlin'),
      fromMs: at('2025-12-31T23:00:00Z'),
      toMs: at('2026-03-31T22:00:00Z'),
    });
    expect(parseViewQuery(pageViews, { ...spring, granularity: '1y' }, WIDE, NOW_MS)).toMatchObject({ granularity: calendar('year', 'UTC'), fromMs: at('2026-01-01T00:00:00Z'), toMs: at('2027-01-01T00:00:00Z') });
  });

  it('makes a UTC day the fixed 24-hour bucket it always was, and a New York day 23 hours on the spring change', () => {
    expect(parse(pageViews, { ...spring, granularity: '1d' })).toMatchObject({ granularity: fixed(24 * HOUR_MS), timeZone: 'UTC', rollUp: true, fromMs: at('2026-03-04T00:00:00Z') });
    const days = parse(pageViews, { from: '2026-03-08T12:00:00Z', to: '2026-03-08T13:00:00Z', granularity: '1d', timeZone: 'America/New_York' });
    expect(days.toMs - days.fromMs).toBe(23 * HOUR_MS);
  });

  it('takes a view’s own zone by default, and rolls a New York day view up to New York weeks and months exactly', () => {
    const own = parse(newYorkDays, spring);
    expect(own).toMatchObject({ granularity: calendar('day', 'America/New_York'), timeZone: 'America/New_York', rollUp: false });
    // Windows starting in [from, to) are the days starting in [Thursday 5 March, Tuesday 10 March) New York time.
    expect([own.fromMs, own.toMs]).toEqual([at('2026-03-05T05:00:00Z'), at('2026-03-10T04:00:00Z')]);
    expect(parse(newYorkDays, { ...spring, granularity: '1d' }).rollUp).toBe(false);
    expect(parse(newYorkDays, { ...spring, granularity: '1w' })).toMatchObject({ granularity: calendar('week', 'America/New_York'), rollUp: true });
    expect(parse(newYorkDays, { ...spring, granularity: '1mo' })).toMatchObject({ granularity: calendar('month', 'America/New_York'), rollUp: true });
    expect(parse(pageViews, { timeZone: 'Europe/Berlin' })).toMatchObject({ granularity: fixed(MINUTE_MS), timeZone: 'Europe/Berlin', rollUp: false });
  });

  it('rolls an hourly view up to New York days, weeks and months: its offsets are whole hours, DST included', () => {
    for (const granularity of ['1d', '1w', '1mo']) {
      expect(parse(hourly, { ...spring, granularity, timeZone: 'America/New_York' }).rollUp).toBe(true);
    }
    expect(parse(pageViews, { ...spring, granularity: '1h', timeZone: 'America/New_York' }).granularity).toEqual(fixed(HOUR_MS));
    expect(parse(daily, { ...spring, granularity: '1w' }).granularity).toEqual(calendar('week', 'UTC'));
  });

  it('refuses a roll-up the view’s windows cannot express, naming timeZone when the zone moves the boundaries', () => {
    const kolkata = expectBadArgument(hourly, { ...spring, granularity: '1d', timeZone: 'Asia/Kolkata' }, 'timeZone');
    expect(kolkata.message).toMatch(/cannot roll hourly up to 1d in Asia\/Kolkata: a bucket starts at 2026-03-04T00:00:00\+05:30, inside one of the view's tumbling 1h windows/);
    expect(kolkata.hint).toMatch(/every bucket boundary must be a boundary of the view's own windows \(tumbling 1h\)/);
    expectBadArgument(daily, { ...spring, granularity: '1w', timeZone: 'America/New_York' }, 'timeZone', /a bucket starts at 2026-03-02T00:00:00-05:00, inside one of the view's tumbling 1d windows/);
    expectBadArgument(newYorkDays, { ...spring, granularity: '1w', timeZone: 'UTC' }, 'timeZone', /1w in UTC.*tumbling 1d in America\/New_York/);
    expectBadArgument(newYorkDays, { ...spring, granularity: '1h' }, 'granularity', /1h is finer than the view's tumbling 1d in America\/New_York windows/);
    expectBadArgument(newYorkDays, { ...spring, granularity: '48h' }, 'granularity', /cannot roll ny_days up to 2d: a bucket starts at/);
    // Months do not start on Mondays.
    expectBadArgument(newYorkWeeks, { ...spring, granularity: '1mo' }, 'granularity', /a bucket starts at 2026-03-01T00:00:00-05:00, inside one of the view's tumbling 1w in America\/New_York windows/);
    // Fixed buckets are epoch-aligned: 2h ones start at odd hours in New York, 1h ones at half past in Kolkata.
    expectBadArgument(pageViews, { ...spring, granularity: '2h', timeZone: 'America/New_York' }, 'timeZone', /America\/New_York's offset \(-05:00\) is not a whole number of 2h/);
    expectBadArgument(pageViews, { ...spring, granularity: '1h', timeZone: 'Asia/Kolkata' }, 'timeZone', /offset \(\+05:30\)/);
  });

  it('refuses calendar roll-ups of sliding and session views, as any other', () => {
    expectBadArgument(countryMinutes, { granularity: '1d', timeZone: 'America/New_York' }, 'granularity', /cannot roll country_minutes up to 1d in America\/New_York: its sliding windows overlap/);
    expectBadArgument(userSessions, { granularity: '1w' }, 'granularity', /cannot roll user_sessions up to 1w in UTC: its session windows have no fixed size/);
  });

  it('names timeZone for a zone there is no such thing as, and granularity for a count of calendar units', () => {
    for (const timeZone of ['Mars/Base', 'EST5EDTX', '+05:30']) {
      expectBadArgument(pageViews, { timeZone }, 'timeZone', /must be an IANA time zone such as America\/New_York, Europe\/Berlin or UTC; got/);
    }
    expect(parse(pageViews, { timeZone: '' }).timeZone).toBe('UTC');
    expectBadArgument(pageViews, { granularity: '2w' }, 'granularity', /calendar units come one at a time \(1d, 1w, 1mo, 1q, 1y\); got "2w"/);
    expectBadArgument(pageViews, { granularity: '1fortnight' }, 'granularity', /must be a duration such as 1m or 1h, or a calendar unit/);
  });

  it('keys the response cache by time zone too', () => {
    const key = (timeZone: string) => queryKey(parse(pageViews, { ...spring, granularity: '1w', timeZone }));
    expect(key('America/New_York')).toBe(key('america/new_york'));
    expect(key('America/New_York')).not.toBe(key('America/Chicago'));
    // Even where the buckets are the same, the answer says which zone it is in.
    expect(queryKey(parse(pageViews, { timeZone: 'Europe/Berlin' }))).not.toBe(queryKey(parse(pageViews, {})));
  });
});

describe('parseViewQuery where', () => {
  it('takes a value, a list, or { eq, in } for a string dimension', () => {
    expect(parse(pageViews, { where: { url: '/a' } }).where).toEqual({ url: ['/a'] });
    expect(parse(pageViews, { where: { url: ['/a', '/b'] } }).where).toEqual({ url: ['/a', '/b'] });
    expect(parse(pageViews, { where: { url: { eq: '/a' } } }).where).toEqual({ url: ['/a'] });
    expect(parse(pageViews, { where: { url: { in: ['/a', '/b'] } } }).where).toEqual({ url: ['/a', '/b'] });
  });

  it('keeps only values that satisfy both eq and in', () => {
    expect(parse(pageViews, { where: { url: { eq: '/a', in: ['/a', '/b'] } } }).where).toEqual({ url: ['/a'] });
    expect(parse(pageViews, { where: { url: { eq: '/c', in: ['/a', '/b'] } } }).where).toEqual({ url: [] });
  });

  it('ignores an empty filter object and an undefined filter', () => {
    expect(parse(pageViews, { where: { url: {} } }).where).toEqual({});
    expect(parse(pageViews, { where: { url: undefined } }).where).toEqual({});
  });

  it('turns numbers and booleans given for a string dimension into text', () => {
    expect(parse(pageViews, { where: { url: [7, true] } }).where).toEqual({ url: ['7', 'true'] });
  });

  it('keeps null as a filter for missing values', () => {
    expect(parse(pageViews, { where: { url: null } }).where).toEqual({ url: [null] });
    expect(parse(probeChecks, { where: { port: [null, '80'] } }).where).toEqual({ port: [null, 80] });
  });

  it('coerces REST text to the dimension’s type: number, bool and timestamp', () => {
    const deployedAtMs = Date.parse('2026-01-01T09:00:00Z');
    const query = parse(probeChecks, { where: { port: ['12', ' 443 '], secure: 'true', deployed_at: String(deployedAtMs) } });
    expect(query.where).toEqual({ port: [12, 443], secure: [true], deployed_at: [deployedAtMs] });
    expect(parse(probeChecks, { where: { secure: ['false', true] } }).where).toEqual({ secure: [false, true] });
    expect(parse(probeChecks, { where: { port: { eq: '8080', in: [8080, '9090'] } } }).where).toEqual({ port: [8080] });
  });

  it.each([
    [{ port: 'twelve' }, 'where.port', /expects a number.*dimension port.*"twelve"/],
    [{ port: '' }, 'where.port', /expects a number/],
    [{ port: ['80', 'x'] }, 'where.port[1]', /expects a number/],
    [{ port: { eq: true } }, 'where.port.eq', /expects a number/],
    [{ port: { in: [1, 'NaN'] } }, 'where.port.in[1]', /expects a number/],
    [{ secure: 'yes' }, 'where.secure', /expects true or false/],
    [{ secure: 1 }, 'where.secure', /expects true or false/],
    [{ deployed_at: 'soon' }, 'where.deployed_at', /expects a timestamp/],
    [{ deployed_at: '99999999999999999999' }, 'where.deployed_at', /expects a timestamp/],
    [{ deployed_at: { eq: 8_640_000_000_000_001 } }, 'where.deployed_at.eq', /expects a timestamp/],
    [{ url: { eq: { nested: true } } }, 'where.url.eq', /expects a string/],
  ] as const)('rejects %j with a BAD_ARGUMENT naming %s', (where, argument, message) => {
    const view = 'url' in where ? pageViews : probeChecks;
    expectBadArgument(view, { where }, argument, message);
  });

  it('rejects an unknown dimension, listing the known ones', () => {
    expectBadArgument(pageViews, { where: { country: 'US' } }, 'where.country', /not a dimension of page_views \(its dimensions: url\)/);
  });

  it('rejects an unknown filter key, pointing at eq and in', () => {
    expectBadArgument(pageViews, { where: { url: { ne: '/a' } } }, 'where.url.ne', /use eq or in/);
    expectBadArgument(pageViews, { where: { url: { eq: '/a', like: '/%' } } }, 'where.url.like', /use eq or in/);
  });

  it('rejects an in that is not a list', () => {
    expectBadArgument(pageViews, { where: { url: { in: '/a' } } }, 'where.url.in', /must be a list/);
  });
});

describe('parseViewQuery orderBy', () => {
  it('accepts a field, field:direction, -field and { field, direction }', () => {
    expect(parse(pageViews, { orderBy: 'views' }).orderBy).toEqual({ field: 'views', direction: 'asc' });
    expect(parse(pageViews, { orderBy: 'views:desc' }).orderBy).toEqual({ field: 'views', direction: 'desc' });
    expect(parse(pageViews, { orderBy: 'views:ASC' }).orderBy).toEqual({ field: 'views', direction: 'asc' });
    expect(parse(pageViews, { orderBy: '-views' }).orderBy).toEqual({ field: 'views', direction: 'desc' });
    expect(parse(pageViews, { orderBy: '-windowStart' }).orderBy).toEqual({ field: 'windowStart', direction: 'desc' });
    expect(parse(pageViews, { orderBy: { field: 'revenue', direction: 'DESC' } }).orderBy).toEqual({ field: 'revenue', direction: 'desc' });
    expect(parse(pageViews, { orderBy: { field: 'visitors' } }).orderBy).toEqual({ field: 'visitors', direction: 'asc' });
  });

  it('rejects a field that is neither windowStart nor a measure, listing the orderable ones', () => {
    expectBadArgument(pageViews, { orderBy: 'url' }, 'orderBy', /windowStart, views, visitors, revenue.*"url"/);
    expectBadArgument(pageViews, { orderBy: { field: 'nope', direction: 'asc' } }, 'orderBy', /"nope"/);
  });

  it('rejects a direction other than asc or desc', () => {
    expectBadArgument(pageViews, { orderBy: 'views:up' }, 'orderBy', /direction must be asc or desc; got "up"/);
    expectBadArgument(pageViews, { orderBy: { field: 'views', direction: 'sideways' } }, 'orderBy', /asc or desc/);
  });

  it('does not order by a topK measure (its value is a list), but does by the others', () => {
    expectBadArgument(probeChecks, { orderBy: 'top_hosts' }, 'orderBy', /windowStart, checks, total_latency, mean_latency;/);
    expect(parse(probeChecks, { orderBy: '-mean_latency' }).orderBy).toEqual({ field: 'mean_latency', direction: 'desc' });
  });
});

describe('parseViewQuery limit and layer', () => {
  it('accepts a whole number as number or text', () => {
    expect(parse(pageViews, { limit: 25 }).limit).toBe(25);
    expect(parse(pageViews, { limit: ' 25 ' }).limit).toBe(25);
    expect(parse(pageViews, { limit: LIMITS.maxRows }).limit).toBe(LIMITS.maxRows);
  });

  it.each([0, -1, 2.5, '2.5', 'ten', '1e2', Number.NaN])('rejects limit %j as BAD_ARGUMENT', (limit) => {
    expectBadArgument(pageViews, { limit }, 'limit', /positive whole number/);
  });

  it('refuses a limit above maxRows with LIMIT_EXCEEDED naming limit', () => {
    for (const limit of [LIMITS.maxRows + 1, String(LIMITS.maxRows + 1)]) {
      const error = rejection(pageViews, { limit });
      expect(error.code).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect(error.fields).toMatchObject({ view: 'page_views', argument: 'limit' });
      expect(error.message).toMatch(/at most 500/);
    }
  });

  it('accepts the three layers in any case', () => {
    expect(parse(pageViews, { layer: 'batch' }).layer).toBe('batch');
    expect(parse(pageViews, { layer: 'SPEED' }).layer).toBe('speed');
    expect(parse(pageViews, { layer: 'Merged' }).layer).toBe('merged');
  });

  it('rejects another layer, listing the three', () => {
    expectBadArgument(pageViews, { layer: 'both' }, 'layer', /merged, batch, speed; got "both"/);
  });
});

describe('queryKey', () => {
  it('is the same for the same query however it was written, and differs when the answer would', () => {
    const a = queryKey(parse(pageViews, { from: 'now-1h', where: { url: '/a' }, orderBy: '-views' }));
    const b = queryKey(parse(pageViews, { from: NOW_MS - HOUR_MS, to: NOW_MS, where: { url: ['/a'] }, orderBy: 'views:desc' }));
    expect(a).toBe(b);
    expect(queryKey(parse(pageViews, { where: { url: '/b' } }))).not.toBe(queryKey(parse(pageViews, { where: { url: '/a' } })));
    expect(queryKey(parse(pageViews, { layer: 'speed' }))).not.toBe(queryKey(parse(pageViews, {})));
    expect(queryKey(parse(pageViews, { limit: 10 }))).not.toBe(queryKey(parse(pageViews, {})));
  });
});

describe('parseViewQuery at its edges', () => {
  const narrow: QueryLimits = { maxRangeMs: 2 * HOUR_MS, maxRangeByView: {}, maxRows: 10 };

  it('a roll-up cannot widen the range past maxRangeMs', () => {
    let thrown: unknown;
    try {
      parseViewQuery(pageViews, { from: 'now-1h', granularity: '3650d' }, narrow, NOW_MS);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as BraidError | undefined)?.code).toBe(ErrorCode.LIMIT_EXCEEDED);
  });

  it('REST text for a timestamp dimension may be ISO-8601, as in GraphQL', () => {
    const src = defineSource({ name: 'edge_deploys', fields: { ts: { type: 'timestampMs' }, host: { type: 'string' }, deployed_at: { type: 'timestampMs' } }, timeField: 'ts', keyFields: ['host'] });
    const view = defineView({ name: 'deploys', source: src as unknown as Source, groupBy: ['deployed_at'], window: tumbling('1m'), measures: { n: count() } });
    expect(parseViewQuery(view, { where: { deployed_at: ['2026-01-01T09:00:00Z'] } }, narrow, NOW_MS).where).toEqual({ deployed_at: [Date.parse('2026-01-01T09:00:00Z')] });
  });

  it('a granularity error shows the value given, not a rounded one', () => {
    expect(() => parseViewQuery(pageViews, { granularity: '90s' }, narrow, NOW_MS)).toThrow(/got "90s"/);
  });

  it('orderBy -views:asc is refused, not silently descending', () => {
    expect(() => parseViewQuery(pageViews, { orderBy: '-views:asc' }, narrow, NOW_MS)).toThrow(/direction once/);
  });

  it('from=5 is not a date', () => {
    expect(() => parseViewQuery(pageViews, { from: '5' }, { maxRangeMs: 1e13, maxRangeByView: {}, maxRows: 10 }, NOW_MS)).toThrow();
  });
});
