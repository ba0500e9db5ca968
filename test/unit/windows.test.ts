import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { approxDistinct, avg, count, max, min, RedisHll, redisHllPosition, REDIS_HLL_REGISTER_COUNT, sum, topK } from '../../shared/measures/index.ts';
import {
  alignDown,
  defineView,
  describeWindow,
  isCalendarWindow,
  session,
  sliding,
  tumbling,
  windowEndFor,
  windowSizeMs,
  windowSpanMs,
  windowStartsFor,
  type View,
  type WindowSpec,
} from '../../shared/views/index.ts';
import { FlushProgram } from '../../speed/flush-program.ts';
import { hashWritesOf, opsOf, runsOf, type FlushOp } from '../harness/flush-ops.ts';
import { SketchLog } from '../../speed/measure-deltas.ts';
import { PartitionSketch } from '../../speed/partition-sketch.ts';
import { createOperator, decodeStoredSession, encodeStoredSession, SessionWindowOperator, sessionId, SketchTtls, type Operator, type StoredSession } from '../../speed/operators/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';

const MINUTE_MS = 60_000;
/** A whole hour, so minute-aligned windows start on it. */
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('window specs', () => {
  it('parse durations into milliseconds', () => {
    expect(tumbling('1m')).toEqual({ type: 'tumbling', sizeMs: MINUTE_MS });
    expect(sliding('5m', '1m')).toEqual({ type: 'sliding', sizeMs: 5 * MINUTE_MS, slideMs: MINUTE_MS });
    expect(session('30m')).toEqual({ type: 'session', gapMs: 30 * MINUTE_MS });
    expect(tumbling(1_500)).toEqual({ type: 'tumbling', sizeMs: 1_500 });
  });

  it('accept a sliding window whose slide equals its size (a tumbling window in disguise)', () => {
    expect(windowStartsFor(sliding('1m', '1m'), T0 + 30_000)).toEqual([T0]);
  });

  it.each([
    ['tumbling(size)', () => tumbling('0s'), '"0s"'],
    ['tumbling(size)', () => tumbling('soon'), '"soon"'],
    ['tumbling(size)', () => tumbling(-5), '-5'],
    ['tumbling(size)', () => tumbling(1.5), '1.5'],
    ['sliding(size)', () => sliding('0m', '1m'), '"0m"'],
    ['sliding(slide)', () => sliding('5m', 'often'), '"often"'],
    ['session(gap)', () => session('0'), '"0"'],
  ])('rejects a bad duration, naming the argument %s', (argument, build, shown) => {
    const error = catchError(build);
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((error as BraidError).message).toContain(argument);
    expect((error as BraidError).message).toContain(shown);
    // Says what a good value looks like, not only that this one is wrong.
    expect((error as BraidError).message).toMatch(/such as/);
  });

  it('rejects a sliding size that is not a whole multiple of the slide, naming both', () => {
    const error = catchError(() => sliding('5m', '2m'));
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((error as BraidError).message).toMatch(/sliding\(5m, 2m\)/);
    expect((error as BraidError).message).toMatch(/size must be a whole multiple of slide/);
  });

  it('describe themselves and report their size', () => {
    expect(describeWindow(tumbling('1m'))).toBe('tumbling 1m');
    expect(describeWindow(sliding('5m', '1m'))).toBe('sliding 5m every 1m');
    expect(describeWindow(session('30m'))).toBe('session gap 30m');
    expect(windowSizeMs(tumbling('1m'))).toBe(MINUTE_MS);
    expect(windowSizeMs(sliding('5m', '1m'))).toBe(5 * MINUTE_MS);
    expect(() => windowSizeMs(session('30m'))).toThrow(/session/);
    expect(() => windowStartsFor(session('30m'), T0)).toThrow(/session operator/);
  });
});

describe('alignDown', () => {
  it.each([
    [0, 0],
    [1, 0],
    [59_999, 0],
    [60_000, 60_000],
    [-1, -60_000],
    [-59_999, -60_000],
    [-60_000, -60_000],
    [-60_001, -120_000],
  ])('floors %d to %d on a 1-minute grid, also below the epoch', (timeMs, expected) => {
    expect(alignDown(timeMs, MINUTE_MS)).toBe(expected);
  });
});

describe('tumbling window assignment', () => {
  const minute = tumbling('1m');

  it('puts an event exactly at a window start in that window, and one at its end in the next', () => {
    expect(windowStartsFor(minute, T0)).toEqual([T0]);
    expect(windowStartsFor(minute, T0 + MINUTE_MS - 1)).toEqual([T0]);
    expect(windowStartsFor(minute, T0 + MINUTE_MS)).toEqual([T0 + MINUTE_MS]);
    expect(windowStartsFor(minute, T0 - 1)).toEqual([T0 - MINUTE_MS]);
  });

  it('handles the epoch and times before it', () => {
    expect(windowStartsFor(minute, 0)).toEqual([0]);
    expect(windowStartsFor(minute, -1)).toEqual([-MINUTE_MS]);
    expect(windowStartsFor(minute, -MINUTE_MS)).toEqual([-MINUTE_MS]);
    expect(windowStartsFor(minute, -MINUTE_MS - 1)).toEqual([-2 * MINUTE_MS]);
  });

  it('aligns windows to the epoch, not to the first event', () => {
    const rng = xoroshiro128plus(7);
    const hour = tumbling('1h');
    for (let trial = 0; trial < 1_000; trial++) {
      const timeMs = uniformInt(rng, -1e13, 1e13);
      const [start] = windowStartsFor(hour, timeMs);
      expect(start! % 3_600_000 === 0).toBe(true);
      expect(start! <= timeMs && timeMs < start! + 3_600_000).toBe(true);
    }
  });
});

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

describe('sliding window assignment', () => {
  it('gives size/slide windows, each [start, start + size) containing the event, earliest first', () => {
    const spec = sliding('5m', '1m');
    expect(windowStartsFor(spec, T0 + 4 * MINUTE_MS + 30_000)).toEqual([0, 1, 2, 3, 4].map((m) => T0 + m * MINUTE_MS));
  });

  it('puts an event exactly at a slide boundary into the window starting there, not the one ending there', () => {
    const spec = sliding('5m', '1m');
    const starts = windowStartsFor(spec, T0);
    expect(starts).toEqual([-4, -3, -2, -1, 0].map((m) => T0 + m * MINUTE_MS));
    expect(starts).not.toContain(T0 - 5 * MINUTE_MS); // [T0-5m, T0) ends at the event
  });

  it('handles the epoch and times before it', () => {
    const spec = sliding('3m', '1m');
    expect(windowStartsFor(spec, 0)).toEqual([-2 * MINUTE_MS, -MINUTE_MS, 0]);
    expect(windowStartsFor(spec, -1)).toEqual([-3 * MINUTE_MS, -2 * MINUTE_MS, -MINUTE_MS]);
  });

  it.each([
    ['5m', '1m'],
    ['10s', '2s'],
    ['1h', '15m'],
    ['2m', '2m'],
    ['1d', '1h'],
  ])('sliding(%s, %s): exactly the aligned windows containing t, for random t', (size, slide) => {
    const spec = sliding(size, slide) as Extract<WindowSpec, { type: 'sliding' }>;
    const { sizeMs, slideMs } = spec;
    const rng = xoroshiro128plus(42);
    for (let trial = 0; trial < 500; trial++) {
      // Mostly arbitrary times; some exactly on a boundary.
      const raw = uniformInt(rng, -1e12, 1e12);
      const timeMs = trial % 5 === 0 ? alignDown(raw, slideMs) : raw;
      const starts = windowStartsFor(spec, timeMs);
      expect(starts).toHaveLength(sizeMs / slideMs);
      // Every aligned window containing t, by brute force.
      const expected: number[] = [];
      for (let start = alignDown(timeMs - sizeMs, slideMs); start <= timeMs; start += slideMs) {
        if (start <= timeMs && timeMs < start + sizeMs) expected.push(start);
      }
      expect(starts).toEqual(expected);
    }
  });
});

// ---------------------------------------------------------------------------
// Speed operators, observed through the ops they write into a FlushProgram.

const keys = new SpeedKeys('t:');

function contextFor(view: View) {
  return { view, keys, group: 'g', topic: 't', partition: 0 };
}

function clickstreamEvent(userId: string, timeMs: number, revenue: number | null = null): Record<string, unknown> {
  return { ts: timeMs, user_id: userId, session_id: `${userId}-s`, url: '/', country: 'US', device: 'mobile', revenue };
}

function checkpoint(operator: Operator, watermarkMs: number): FlushOp[] {
  const program = new FlushProgram(keys.partitions('g'));
  operator.onCheckpoint(program, watermarkMs);
  return opsOf(program);
}

describe('stored sessions', () => {
  it('round-trip through the compact value, the group key and start taken from the id (even a key holding the separator)', () => {
    const groupKey = `US${'\x1f'}mobile`;
    const id = sessionId(groupKey, T0);
    const text = encodeStoredSession(T0 + 30 * MINUTE_MS, 4, ['4', '12.5', 'with "quotes" and , commas']);
    expect(text.length).toBeLessThan(80);
    expect(decodeStoredSession(id, text)).toEqual({ k: groupKey, s: T0, e: T0 + 30 * MINUTE_MS, n: 4, m: ['4', '12.5', 'with "quotes" and , commas'] });
  });

  it('round-trips measure states that JSON must escape (backslash, control characters, non-ASCII)', () => {
    const states = ['3', 'back\\slash', 'tab\there', 'ünï 😀', '', '[1,"x"]'];
    expect(decodeStoredSession(sessionId('u1', T0), encodeStoredSession(T0 + 1, 2, states)).m).toEqual(states);
    // Byte for byte what JSON gives, for random text full of what JSON escapes.
    const random = xoroshiro128plus(3);
    const alphabet = ['a', '1', ' ', '"', '\\', '\u0000', '\u001f', '\u007f', '~', 'é', '\ud800', '\udc00', '😀', '/'];
    for (let round = 0; round < 500; round++) {
      const random_states = Array.from({ length: uniformInt(random, 0, 4) }, () =>
        Array.from({ length: uniformInt(random, 0, 12) }, () => alphabet[uniformInt(random, 0, alphabet.length - 1)]).join(''),
      );
      expect(encodeStoredSession(T0, 7, random_states)).toBe(JSON.stringify([T0, 7, ...random_states]));
    }
  });
});

describe('session windows (SessionWindowOperator)', () => {
  const GAP_MS = 10 * MINUTE_MS;
  const LATENESS_MS = MINUTE_MS;
  const view = defineView({
    name: 'test_sessions',
    source: 'clickstream',
    groupBy: ['user_id'],
    window: session('10m'),
    measures: { events: count(), revenue: sum('revenue') },
    allowedLateness: '1m',
  });
  const sessionsKey = keys.sessions(view.name);
  const indexKey = keys.sessionIndex(view.name);
  const openKey = keys.openSessions(view.name, 't', 0);
  /** A watermark far behind every event, so nothing is late or closes. */
  const EARLY = T0 - 24 * 60 * MINUTE_MS;

  const operator = () => createOperator(contextFor(view));

  /** The sessions the checkpoint wrote, by id. */
  function writtenSessions(ops: FlushOp[]): Map<string, StoredSession> {
    const sessions = new Map<string, StoredSession>();
    for (const op of ops) if (op.code === 'S' && op.key === sessionsKey) sessions.set(op.args[0]!, decodeStoredSession(op.args[0]!, op.args[1]!));
    return sessions;
  }
  function deletedSessions(ops: FlushOp[]): { hash: string[]; index: string[]; open: string[] } {
    return {
      hash: ops.filter((op) => op.code === 'D' && op.key === sessionsKey).map((op) => op.args[0]!),
      index: ops.filter((op) => op.code === 'R' && op.key === indexKey).map((op) => op.args[0]!),
      open: ops.filter((op) => op.code === 'D' && op.key === openKey).map((op) => op.args[0]!),
    };
  }

  it('is the operator createOperator picks for a session view', () => {
    expect(operator()).toBeInstanceOf(SessionWindowOperator);
  });

  it('puts events of one key less than the gap apart into one session', () => {
    const op = operator();
    expect(op.process(clickstreamEvent('u1', T0, 2.5), 'u1', T0, EARLY)).toBe(true);
    expect(op.process(clickstreamEvent('u1', T0 + GAP_MS - 1, 1.5), 'u1', T0 + GAP_MS - 1, EARLY)).toBe(true);
    const ops = checkpoint(op, EARLY);
    const sessions = writtenSessions(ops);
    expect([...sessions.keys()]).toEqual([sessionId('u1', T0)]);
    expect(sessions.get(sessionId('u1', T0))).toEqual({ k: 'u1', s: T0, e: T0 + 2 * GAP_MS - 1, n: 2, m: ['2', '4'] });
    // Indexed by start and listed as open in this partition.
    expect(ops).toContainEqual({ code: 'A', key: indexKey, args: [String(T0), sessionId('u1', T0)] });
    expect(ops).toContainEqual({ code: 'S', key: openKey, args: [sessionId('u1', T0), '1'] });
  });

  it('starts a new session for an event exactly one gap after the last', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0), 'u1', T0, EARLY);
    op.process(clickstreamEvent('u1', T0 + GAP_MS), 'u1', T0 + GAP_MS, EARLY);
    const sessions = writtenSessions(checkpoint(op, EARLY));
    expect(sessions).toEqual(
      new Map([
        [sessionId('u1', T0), { k: 'u1', s: T0, e: T0 + GAP_MS, n: 1, m: ['1', ''] }],
        [sessionId('u1', T0 + GAP_MS), { k: 'u1', s: T0 + GAP_MS, e: T0 + 2 * GAP_MS, n: 1, m: ['1', ''] }],
      ]),
    );
  });

  it('keeps the sessions of different keys apart', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0), 'u1', T0, EARLY);
    op.process(clickstreamEvent('u2', T0 + 1), 'u2', T0 + 1, EARLY);
    const sessions = writtenSessions(checkpoint(op, EARLY));
    expect([...sessions.keys()].sort()).toEqual([sessionId('u1', T0), sessionId('u2', T0 + 1)].sort());
  });

  it('merges two flushed sessions that an out-of-order event bridges, deleting the one that vanished', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0, 1), 'u1', T0, EARLY); // [T0, T0+10m)
    op.process(clickstreamEvent('u1', T0 + 15 * MINUTE_MS, 2), 'u1', T0 + 15 * MINUTE_MS, EARLY); // [T0+15m, T0+25m)
    const first = writtenSessions(checkpoint(op, EARLY));
    expect([...first.keys()].sort()).toEqual([sessionId('u1', T0), sessionId('u1', T0 + 15 * MINUTE_MS)].sort());

    // [T0+8m, T0+18m) overlaps both.
    expect(op.process(clickstreamEvent('u1', T0 + 8 * MINUTE_MS, 4), 'u1', T0 + 8 * MINUTE_MS, EARLY)).toBe(true);
    const ops = checkpoint(op, EARLY);
    const mergedId = sessionId('u1', T0);
    const vanishedId = sessionId('u1', T0 + 15 * MINUTE_MS);
    // The merged session is written whole, as JSON {k,s,e,n,m}, under the id of its start.
    expect(writtenSessions(ops)).toEqual(new Map([[mergedId, { k: 'u1', s: T0, e: T0 + 25 * MINUTE_MS, n: 3, m: ['3', '7'] }]]));
    // The later session is gone from the hash, the start index and the open set.
    expect(deletedSessions(ops)).toEqual({ hash: [vanishedId], index: [vanishedId], open: [vanishedId] });
    // Its id and start did not change, so the index and open-set entries of the first flush stand (no re-write).
    expect(deletedSessions(ops).index).not.toContain(mergedId);
    expect(ops.filter((op) => op.code === 'A' && op.key === indexKey)).toEqual([]);
  });

  it('merges a bridge within one flush: only the merged session is written', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0 + 15 * MINUTE_MS), 'u1', T0 + 15 * MINUTE_MS, EARLY);
    op.process(clickstreamEvent('u1', T0), 'u1', T0, EARLY);
    op.process(clickstreamEvent('u1', T0 + 8 * MINUTE_MS), 'u1', T0 + 8 * MINUTE_MS, EARLY);
    const ops = checkpoint(op, EARLY);
    expect(writtenSessions(ops)).toEqual(
      new Map([[sessionId('u1', T0), { k: 'u1', s: T0, e: T0 + 25 * MINUTE_MS, n: 3, m: ['3', ''] }]]),
    );
    const vanishedId = sessionId('u1', T0 + 15 * MINUTE_MS);
    expect(deletedSessions(ops)).toEqual({ hash: [vanishedId], index: [vanishedId], open: [vanishedId] });
  });

  it('moves a session to a new id when an out-of-order event extends it backwards', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0 + 5 * MINUTE_MS), 'u1', T0 + 5 * MINUTE_MS, EARLY);
    checkpoint(op, EARLY);
    op.process(clickstreamEvent('u1', T0), 'u1', T0, EARLY);
    const ops = checkpoint(op, EARLY);
    expect(writtenSessions(ops)).toEqual(new Map([[sessionId('u1', T0), { k: 'u1', s: T0, e: T0 + 15 * MINUTE_MS, n: 2, m: ['2', ''] }]]));
    const oldId = sessionId('u1', T0 + 5 * MINUTE_MS);
    expect(deletedSessions(ops)).toEqual({ hash: [oldId], index: [oldId], open: [oldId] });
  });

  it('rejects an event whose merged session ends at or before watermark - allowed lateness, changing nothing', () => {
    const op = operator();
    const twin = operator();
    for (const o of [op, twin]) o.process(clickstreamEvent('u1', T0, 1), 'u1', T0, EARLY); // [T0, T0+10m)
    // An event 5m before it merges into [T0-5m, T0+10m): end + lateness = T0+11m.
    const watermark = T0 + GAP_MS + LATENESS_MS;
    expect(op.process(clickstreamEvent('u1', T0 - 5 * MINUTE_MS, 100), 'u1', T0 - 5 * MINUTE_MS, watermark)).toBe(false);
    // A lone late event, of another key, is rejected too.
    expect(op.process(clickstreamEvent('u2', T0, 100), 'u2', T0, watermark)).toBe(false);
    // The rejected events leave the state a twin that never saw them has at the same (never falling) watermark.
    expect(checkpoint(op, watermark)).toEqual(checkpoint(twin, watermark));
  });

  it('regression: a closed session is not revived by a later event whether or not a flush fell in between (merges must not depend on flush timing)', () => {
    // Found by the crash test: the same events gave one merged session in one run and two overlapping
    // sessions in a run whose flushes fell elsewhere, because closing happened only at checkpoints.
    const closingWatermark = T0 + GAP_MS + LATENESS_MS; // closes [T0, T0+10m)
    const run = (flushBetween: boolean) => {
      const op = operator();
      op.process(clickstreamEvent('u1', T0, 1), 'u1', T0, EARLY);
      if (flushBetween) checkpoint(op, closingWatermark);
      // Within the gap of the closed session, but its own window [T0+9m, T0+19m) is still open.
      expect(op.process(clickstreamEvent('u1', T0 + 9 * MINUTE_MS, 2), 'u1', T0 + 9 * MINUTE_MS, closingWatermark)).toBe(true);
      return writtenSessions(checkpoint(op, closingWatermark)).get(sessionId('u1', T0 + 9 * MINUTE_MS));
    };
    const withoutFlush = run(false);
    expect(withoutFlush).toEqual({ k: 'u1', s: T0 + 9 * MINUTE_MS, e: T0 + 19 * MINUTE_MS, n: 1, m: ['1', '2'] });
    expect(run(true)).toEqual(withoutFlush);
  });

  it('accepts the same event one millisecond earlier in watermark terms', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0, 1), 'u1', T0, EARLY);
    const watermark = T0 + GAP_MS + LATENESS_MS - 1;
    expect(op.process(clickstreamEvent('u1', T0 - 5 * MINUTE_MS, 100), 'u1', T0 - 5 * MINUTE_MS, watermark)).toBe(true);
    const sessions = writtenSessions(checkpoint(op, EARLY));
    expect(sessions.get(sessionId('u1', T0 - 5 * MINUTE_MS))).toEqual({
      k: 'u1',
      s: T0 - 5 * MINUTE_MS,
      e: T0 + GAP_MS,
      n: 2,
      m: ['2', '101'],
    });
  });

  it('accepts an event late on its own when it merges into a session that is still open', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0 + 5 * MINUTE_MS), 'u1', T0 + 5 * MINUTE_MS, EARLY); // [T0+5m, T0+15m)
    // Alone, [T0, T0+10m) + 1m lateness would be closed at T0+11m; merged it ends at T0+15m.
    const watermark = T0 + GAP_MS + LATENESS_MS;
    expect(op.process(clickstreamEvent('u1', T0), 'u1', T0, watermark)).toBe(true);
    const sessions = writtenSessions(checkpoint(op, watermark));
    expect(sessions.get(sessionId('u1', T0))).toEqual({ k: 'u1', s: T0, e: T0 + 15 * MINUTE_MS, n: 2, m: ['2', ''] });
  });

  it('closes a session at the checkpoint whose watermark passes its end + allowed lateness', () => {
    const op = operator();
    op.process(clickstreamEvent('u1', T0), 'u1', T0, EARLY);
    checkpoint(op, EARLY);
    const ops = checkpoint(op, T0 + GAP_MS + LATENESS_MS);
    expect(deletedSessions(ops).open).toEqual([sessionId('u1', T0)]);
    expect(deletedSessions(ops).hash).toEqual([]);
  });

  it('matches a naive model on random disordered events with random flushes (single-session and several-session keys alike)', () => {
    // The model: the documented semantics, event by event, with plain lists and no fast paths.
    interface ModelSession {
      start: number;
      end: number;
      rows: number;
      revenue: number;
    }
    const rng = xoroshiro128plus(7);
    const int = (from: number, to: number) => uniformInt(rng, from, to);
    for (let round = 0; round < 20; round++) {
      const op = operator();
      const open = new Map<string, ModelSession[]>();
      const stored = new Map<string, StoredSession>();
      const openSet = new Set<string>();
      const expected = new Map<string, ModelSession & { key: string }>();
      const evict = (key: string, watermark: number) => {
        const kept = (open.get(key) ?? []).filter((s) => s.end + LATENESS_MS > watermark);
        if (kept.length === 0) open.delete(key);
        else open.set(key, kept);
      };
      let maxTime = T0;
      for (let index = 0; index < 300; index++) {
        const key = `u${int(1, 4)}`;
        // Mostly forward in time, sometimes far back (bridges, backward extensions, lateness).
        maxTime += int(0, 4) * MINUTE_MS;
        const time = int(0, 9) === 0 ? maxTime - int(0, 40) * MINUTE_MS : maxTime - int(0, 3) * MINUTE_MS;
        const watermark = maxTime - 5 * MINUTE_MS;
        const revenue = int(0, 9);
        evict(key, watermark);
        const overlapping = (open.get(key) ?? []).filter((s) => s.start < time + GAP_MS && time < s.end);
        const merged: ModelSession = { start: time, end: time + GAP_MS, rows: 1, revenue };
        for (const s of overlapping) {
          merged.start = Math.min(merged.start, s.start);
          merged.end = Math.max(merged.end, s.end);
          merged.rows += s.rows;
          merged.revenue += s.revenue;
        }
        const accepted = merged.end + LATENESS_MS > watermark;
        expect(op.process(clickstreamEvent(key, time, revenue), key, time, watermark), `round ${round}, event ${index}`).toBe(accepted);
        if (accepted) {
          const kept = (open.get(key) ?? []).filter((s) => !overlapping.includes(s));
          kept.push(merged);
          open.set(key, kept);
          for (const s of overlapping) expected.delete(sessionId(key, s.start));
          expected.set(sessionId(key, merged.start), { key, ...merged });
        }
        if (int(0, 19) === 0 || index === 299) {
          for (const key of [...open.keys()]) evict(key, watermark);
          for (const flushed of checkpoint(op, watermark)) {
            const [id, value] = flushed.args;
            if (flushed.key === sessionsKey && flushed.code === 'S') stored.set(id!, decodeStoredSession(id!, value!));
            if (flushed.key === sessionsKey && flushed.code === 'D') stored.delete(id!);
            if (flushed.key === openKey && flushed.code === 'S') openSet.add(id!);
            if (flushed.key === openKey && flushed.code === 'D') openSet.delete(id!);
          }
          const openIds = [...open].flatMap(([key, sessions]) => sessions.map((s) => sessionId(key, s.start)));
          expect([...openSet].sort(), `round ${round}, open sessions after event ${index}`).toEqual(openIds.sort());
        }
      }
      expect(stored.size).toBe(expected.size);
      for (const [id, s] of expected) {
        expect(stored.get(id), `round ${round}, session ${id}`).toEqual({ k: s.key, s: s.start, e: s.end, n: s.rows, m: [String(s.rows), String(s.revenue)] });
      }
    }
  });
});

describe('fixed windows (createOperator), lateness', () => {
  const minuteView = defineView({
    name: 'test_minutes',
    source: 'clickstream',
    groupBy: ['country'],
    window: tumbling('1m'),
    measures: { views: count(), revenue: sum('revenue') },
  });
  const slidingView = defineView({
    name: 'test_sliding',
    source: 'clickstream',
    groupBy: ['country'],
    window: sliding('5m', '1m'),
    measures: { views: count(), revenue: sum('revenue') },
  });
  const latenessView = defineView({
    name: 'test_lateness',
    source: 'clickstream',
    groupBy: ['country'],
    window: tumbling('1m'),
    measures: { views: count() },
    allowedLateness: '30s',
  });

  /** Window starts whose hash received a row-count increment (`I` op). */
  function incrementedWindows(view: View, ops: FlushOp[]): number[] {
    const prefix = keys.window(view.name, 0).replace(/0$/, '');
    return [...new Set(ops.filter((op) => op.code === 'I' && op.key.startsWith(prefix)).map((op) => Number(op.key.slice(prefix.length))))].sort(
      (a, b) => a - b,
    );
  }

  it('tumbling, no allowed lateness: rejects an event whose window end <= watermark', () => {
    const op = createOperator(contextFor(minuteView));
    const event = clickstreamEvent('u1', T0 + 30_000, 5);
    expect(op.process(event, 'US', T0 + 30_000, T0 + MINUTE_MS)).toBe(false);
    expect(op.pendingCells).toBe(0);
    expect(checkpoint(op, T0 + MINUTE_MS)).toEqual([]);
  });

  it('tumbling, no allowed lateness: accepts it while the watermark is before the window end', () => {
    const op = createOperator(contextFor(minuteView));
    expect(op.process(clickstreamEvent('u1', T0 + 30_000, 5), 'US', T0 + 30_000, T0 + MINUTE_MS - 1)).toBe(true);
    const ops = checkpoint(op, T0 + MINUTE_MS - 1);
    expect(incrementedWindows(minuteView, ops)).toEqual([T0]);
    expect(ops).toContainEqual({ code: 'I', key: keys.window(minuteView.name, T0), args: ['US\x1f#', '1'] });
    expect(ops).toContainEqual({ code: 'F', key: keys.window(minuteView.name, T0), args: ['US\x1frevenue', '5'] });
  });

  it('tumbling with allowed lateness: accepts until watermark reaches window end + lateness', () => {
    const op = createOperator(contextFor(latenessView));
    const eventTimeMs = T0 + 10_000;
    expect(op.process(clickstreamEvent('u1', eventTimeMs), 'US', eventTimeMs, T0 + MINUTE_MS + 30_000 - 1)).toBe(true);
    expect(op.process(clickstreamEvent('u1', eventTimeMs), 'US', eventTimeMs, T0 + MINUTE_MS + 30_000)).toBe(false);
    expect(checkpoint(op, T0 + MINUTE_MS + 30_000)).toContainEqual({
      code: 'I',
      key: keys.window(latenessView.name, T0),
      args: ['US\x1f#', '1'],
    });
  });

  it('tumbling in a time zone: a window closes at its real end (a 23-hour New York day), and the next takes the events after it', () => {
    const view = defineView({ name: 'test_ny_days', source: 'clickstream', groupBy: ['country'], window: tumbling('1d', { timeZone: 'America/New_York' }), measures: { views: count() } });
    const dayStart = Date.parse('2026-03-08T05:00:00Z');
    const dayEnd = Date.parse('2026-03-09T04:00:00Z');
    const op = createOperator(contextFor(view));
    // 23:30 on 8 March in New York: the day ends at 04:00Z, not 24 hours after it began.
    const lastHour = dayEnd - 30 * MINUTE_MS;
    expect(op.process(clickstreamEvent('u1', lastHour), 'US', lastHour, dayEnd - 1)).toBe(true);
    expect(op.process(clickstreamEvent('u1', lastHour), 'US', lastHour, dayEnd)).toBe(false);
    expect(op.process(clickstreamEvent('u1', dayEnd), 'US', dayEnd, dayEnd)).toBe(true);
    expect(op.process(clickstreamEvent('u1', dayStart), 'US', dayStart, dayStart)).toBe(true);
    expect(incrementedWindows(view, checkpoint(op, dayEnd))).toEqual([dayStart, dayEnd]);
  });

  it('sliding: an event late for its earlier windows still updates the later ones', () => {
    const op = createOperator(contextFor(slidingView));
    // In [T0, T0+5m) … [T0+4m, T0+9m); with the watermark at T0+7m the first three are closed.
    const eventTimeMs = T0 + 4 * MINUTE_MS + 30_000;
    expect(op.process(clickstreamEvent('u1', eventTimeMs, 1), 'US', eventTimeMs, T0 + 7 * MINUTE_MS)).toBe(true);
    const ops = checkpoint(op, T0 + 7 * MINUTE_MS);
    expect(incrementedWindows(slidingView, ops)).toEqual([T0 + 3 * MINUTE_MS, T0 + 4 * MINUTE_MS]);
    const indexed = ops.filter((o) => o.code === 'A' && o.key === keys.windows(slidingView.name)).map((o) => Number(o.args[0]));
    expect(indexed.sort((a, b) => a - b)).toEqual([T0 + 3 * MINUTE_MS, T0 + 4 * MINUTE_MS]);
  });

  it('sliding: an event late for every window is rejected', () => {
    const op = createOperator(contextFor(slidingView));
    const eventTimeMs = T0 + 4 * MINUTE_MS + 30_000;
    expect(op.process(clickstreamEvent('u1', eventTimeMs), 'US', eventTimeMs, T0 + 9 * MINUTE_MS)).toBe(false);
    expect(op.pendingCells).toBe(0);
    expect(checkpoint(op, T0 + 9 * MINUTE_MS)).toEqual([]);
  });

  it('sliding: an on-time event updates all size/slide windows', () => {
    const op = createOperator(contextFor(slidingView));
    const eventTimeMs = T0 + 4 * MINUTE_MS;
    expect(op.process(clickstreamEvent('u1', eventTimeMs), 'US', eventTimeMs, T0)).toBe(true);
    // Kept once, in its pane; counted as the five window cells the checkpoint writes.
    expect(op.pendingCells).toBe(5);
    expect(incrementedWindows(slidingView, checkpoint(op, T0))).toEqual([0, 1, 2, 3, 4].map((m) => T0 + m * MINUTE_MS));
  });

  it.each([
    ['sliding 5m every 1m', sliding('5m', '1m'), T0],
    ['sliding 6m every 2m', sliding('6m', '2m'), T0],
    ['tumbling 1m', tumbling('1m'), T0],
    // Across the end of New York's 23-hour day (2026-03-08 ends at 04:00Z) and of Berlin's 167-hour week (ends 2026-03-29T22:00Z).
    ['tumbling 1d in America/New_York', tumbling('1d', { timeZone: 'America/New_York' }), Date.parse('2026-03-09T03:50:00Z')],
    ['tumbling 1w in Europe/Berlin', tumbling('1w', { timeZone: 'Europe/Berlin' }), Date.parse('2026-03-29T21:50:00Z')],
  ])('%s: panes merged at checkpoints write what each window would get event by event, lateness included', (_label, window, startMs) => {
    const view = defineView({
      name: 'test_panes',
      source: 'clickstream',
      groupBy: ['country'],
      window,
      measures: { views: count(), revenue: sum('revenue'), low: min('revenue'), high: max('revenue'), mean: avg('revenue'), users: approxDistinct('user_id'), pages: topK('url', 3) },
      allowedLateness: '30s',
    });
    const random = xoroshiro128plus(7);
    const op = createOperator(contextFor(view));
    // Expected, event by event: per window hash and field, the value the flush must carry; per top-k key, the counts.
    type Expected = { fields: Map<string, Map<string, number>>; members: Map<string, Map<string, number>> };
    const fresh = (): Expected => ({ fields: new Map(), members: new Map() });
    // approxDistinct: the partition's sketch of a cell holds every user of it so far (whole, not per flush).
    const users = new Map<string, Set<string>>();
    const storedSketches = new Map<string, Buffer>();
    const sketchCell = (key: string, field: string) => `${key} ${field}`;
    const member = (expected: Expected, key: string, name: string, by: number) => {
      const members = expected.members.get(key) ?? new Map<string, number>();
      expected.members.set(key, members);
      members.set(name, (members.get(name) ?? 0) + by);
    };
    // Every sketch key written is given its TTL.
    const sketchKeys = new Set<string>();
    const expiredKeys: string[] = [];
    const field = (expected: Expected, hash: string, name: string, value: number, merge: (a: number, b: number) => number) => {
      const fields = expected.fields.get(hash) ?? new Map<string, number>();
      expected.fields.set(hash, fields);
      fields.set(name, fields.has(name) ? merge(fields.get(name)!, value) : value);
    };
    const actual = (ops: FlushOp[]): Expected => {
      const seen = fresh();
      for (const o of ops) {
        if (o.code === 'Z') member(seen, o.key, o.args[0]!, Number(o.args[1]));
        else if (o.code === 'T') expiredKeys.push(o.key);
        if (o.code === 'Z' || (o.code === 'S' && o.key.includes(':h:'))) sketchKeys.add(o.key);
        if (['I', 'F', '<', '>'].includes(o.code)) {
          const fields = seen.fields.get(o.key) ?? new Map<string, number>();
          seen.fields.set(o.key, fields);
          // Each (hash, field) is written once per flush.
          expect(fields.has(o.args[0]!), `${o.key} ${o.args[0]} written twice`).toBe(false);
          fields.set(o.args[0]!, Number(o.args[1]));
        }
      }
      return seen;
    };
    let watermark = startMs;
    for (let flush = 0; flush < 6; flush++) {
      const expected = fresh();
      for (let index = 0; index < 300; index++) {
        watermark += uniformInt(random, 0, 2_000);
        // Up to 8 minutes behind the watermark: some on time, some late for some or all of their windows.
        const eventTimeMs = watermark - uniformInt(random, -60_000, 8 * MINUTE_MS);
        const country = ['US', 'DE', 'FR'][uniformInt(random, 0, 2)]!;
        const user = `u${uniformInt(random, 0, 40)}`;
        const url = ['/a', '/b', '/c', '/d'][uniformInt(random, 0, 3)]!;
        const revenue = uniformInt(random, 0, 3) === 0 ? null : uniformInt(random, 1, 500);
        const starts = windowStartsFor(view.window, eventTimeMs).filter((start) => windowEndFor(view.window, start) + 30_000 > watermark);
        expect(op.process({ ...clickstreamEvent(user, eventTimeMs, revenue), country, url }, country, eventTimeMs, watermark)).toBe(starts.length > 0);
        for (const start of starts) {
          const hash = keys.window(view.name, start);
          field(expected, hash, `${country}\x1f#`, 1, (a, b) => a + b);
          const cell = sketchCell(keys.sketches(view.name, start, 'users'), SpeedKeys.sketchField('t', 0, country));
          users.set(cell, (users.get(cell) ?? new Set()).add(user));
          member(expected, keys.topK(view.name, start, 'pages', country), url, 1);
          if (revenue === null) continue;
          field(expected, hash, `${country}\x1frevenue`, revenue, (a, b) => a + b);
          field(expected, hash, `${country}\x1flow`, revenue, Math.min);
          field(expected, hash, `${country}\x1fhigh`, revenue, Math.max);
          field(expected, hash, `${country}\x1fmean.s`, revenue, (a, b) => a + b);
          field(expected, hash, `${country}\x1fmean.c`, 1, (a, b) => a + b);
        }
      }
      const program = new FlushProgram(keys.partitions('g'));
      op.onCheckpoint(program, watermark);
      expect(actual(opsOf(program))).toEqual(expected);
      expect(op.pendingCells).toBe(0);
      for (const { key, field, value } of hashWritesOf(program)) if (key.includes(':h:')) storedSketches.set(sketchCell(key, field), value);
      // What Redis holds for each cell is the sketch of all its users, as PFADD of them would have built it.
      expect([...storedSketches.keys()].sort()).toEqual([...users.keys()].sort());
      for (const [cell, cellUsers] of users) {
        const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
        PartitionSketch.mergeInto(registers, storedSketches.get(cell)!);
        const want = RedisHll.fromPositions([...cellUsers].map(redisHllPosition)).registers();
        // Compared as bytes: toEqual walks 16384 elements one by one, seconds per flush.
        expect(Buffer.from(registers.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.length)), cell).toBe(true);
      }
    }
    // (A window forgotten by the registry and written again has its sketches' TTL set again: harmless, it
    // only renews it.)
    expect(new Set(expiredKeys.filter((key) => sketchKeys.has(key)))).toEqual(sketchKeys);
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('flush programs: partition sketches and sketch TTLs', () => {
  it('every PEXPIRE comes after the writes, once per key (the longest asked for)', () => {
    const program = new FlushProgram(keys.partitions('g'));
    // As two partitions' operators write one after the other: sketch, its TTL, then the window hash.
    program.hSetBytes('t:h', 't:0\x1fa', Buffer.from([0x50]));
    program.pExpire('t:h', 60_000);
    program.incrBy('t:w', 'a|views', 2);
    program.pExpire('t:w', 60_000);
    program.hSetBytes('t:h', 't:1\x1fa', Buffer.from([0x50]));
    program.pExpire('t:h', 90_000);
    program.incrBy('t:w', 'a|views', 1);
    program.pExpire('t:w', 60_000);
    expect(program.size).toBe(4 + 2);
    expect(opsOf(program)).toEqual([
      { code: 'S', key: 't:h', args: ['t:0\x1fa', 'P'] },
      { code: 'I', key: 't:w', args: ['a|views', '2'] },
      { code: 'S', key: 't:h', args: ['t:1\x1fa', 'P'] },
      { code: 'I', key: 't:w', args: ['a|views', '1'] },
      { code: 'T', key: 't:h', args: ['90000'] },
      { code: 'T', key: 't:w', args: ['60000'] },
    ]);
    expect(runsOf(program).map((run) => run.code)).toEqual(['S', 'I', 'S', 'I', 'T']);
  });

  it('an operator holds its sketches of the windows still open, and lets a window\'s go once the watermark closes it', () => {
    const view = defineView({
      name: 'test_held',
      source: 'clickstream',
      groupBy: ['url'],
      window: tumbling('1m'),
      measures: { visitors: approxDistinct('user_id') },
      allowedLateness: '30s',
    });
    const op = createOperator(contextFor(view));
    for (const [user, url, at] of [['u1', '/a', T0], ['u2', '/b', T0 + 1_000], ['u3', '/a', T0 + MINUTE_MS]] as const) {
      expect(op.process(clickstreamEvent(user, at), url, at, T0)).toBe(true);
    }
    // A tumbling cell's sketch is held from the cell's first event (its elements go in at the checkpoint).
    expect(op.heldSketches).toBe(3); // /a and /b of the first minute, /a of the second
    checkpoint(op, T0);
    expect(op.heldSketches).toBe(3);
    // The first minute closes at its end + 30 s of lateness; the second is still open.
    checkpoint(op, T0 + MINUTE_MS + 30_000);
    expect(op.heldSketches).toBe(1);
    op.onClose();
    expect(op.heldSketches).toBe(0);
  });

  it.each([
    ['tumbling 1m', tumbling('1m')],
    ['sliding 2m every 1m', sliding('2m', '1m')],
  ])('%s: a sketch is written again only when one of its registers grew', (_label, window) => {
    const view = defineView({
      name: 'test_rewrite',
      source: 'clickstream',
      groupBy: ['url'],
      window,
      measures: { visitors: approxDistinct('user_id') },
      allowedLateness: '30s',
    });
    const op = createOperator(contextFor(view));
    const sketchWrites = (watermarkMs: number) => {
      const program = new FlushProgram(keys.partitions('g'));
      op.onCheckpoint(program, watermarkMs);
      return hashWritesOf(program).filter(({ key }) => key.includes(':h:')).length;
    };
    const windows = window.type === 'sliding' ? 2 : 1;
    op.process(clickstreamEvent('u1', T0), '/a', T0, T0);
    expect(sketchWrites(T0)).toBe(windows);
    // The same user again: no register grows, nothing is written (the row count still is).
    op.process(clickstreamEvent('u1', T0 + 1_000), '/a', T0 + 1_000, T0);
    expect(sketchWrites(T0)).toBe(0);
    op.process(clickstreamEvent('u2', T0 + 2_000), '/a', T0 + 2_000, T0);
    expect(sketchWrites(T0)).toBe(windows);
  });

  it.each([0, 1, 3, 4, 5, 9, 40, 1_100])(
    'a partition sketch of %i registers (held in its fields, a sorted array, or dense) reports each growth and stores its registers in order',
    (registers) => {
      const random = xoroshiro128plus(registers + 5);
      const sketch = new PartitionSketch();
      const reference = new Map<number, number>();
      // Each register offered several times, values up and down, in random order: growth in place and inserts.
      const offers: number[] = [];
      for (let index = 0; index < registers; index++) {
        const register = (index * 7_919) % REDIS_HLL_REGISTER_COUNT;
        for (let repeat = uniformInt(random, 1, 3); repeat > 0; repeat--) offers.push(register * 64 + uniformInt(random, 1, 20));
      }
      for (let index = offers.length - 1; index > 0; index--) {
        const other = uniformInt(random, 0, index);
        [offers[index], offers[other]] = [offers[other]!, offers[index]!];
      }
      for (const position of offers) {
        const register = position >> 6;
        const grows = (position & 63) > (reference.get(register) ?? 0);
        if (grows) reference.set(register, position & 63);
        expect(sketch.add(position), `offer ${position}`).toBe(grows);
      }
      const want = RedisHll.fromPositions([...reference].map(([register, value]) => register * 64 + value)).registers();
      const stored = sketch.toBytes();
      const merged = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
      PartitionSketch.mergeInto(merged, stored);
      expect(Buffer.from(merged).equals(Buffer.from(want)), 'registers').toBe(true);
      // Equal sketches store equal bytes whatever the order their elements came in.
      expect(PartitionSketch.fromBytes(stored).toBytes()).toEqual(stored);
      if (registers <= 1_024) {
        expect(stored.length).toBe(1 + 3 * registers);
        // In register order, so equal sketches store equal bytes.
        const positions = Array.from({ length: registers }, (_, index) => stored.readUIntBE(1 + 3 * index, 3));
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      }
    },
  );

  it('a sketch log takes each slot\'s positions into its sketch at the fold, marks only sketches that grew, and starts empty again', () => {
    const log = new SketchLog();
    const random = xoroshiro128plus(11);
    // Three sketches, one of which already holds what it will be offered; more positions than the log's first room.
    const full = new PartitionSketch();
    const values = Array.from({ length: 3_000 }, (_, index) => redisHllPosition(`v${index}`));
    for (const position of values.slice(0, 100)) full.add(position);
    const sketches = [new PartitionSketch(), full, new PartitionSketch()];
    const slots = sketches.map((sketch) => log.slot(sketch));
    const expected = [new PartitionSketch(), PartitionSketch.fromBytes(full.toBytes()), new PartitionSketch()];
    for (const position of values) {
      // Interleaved: slot 1 only ever gets what it holds.
      const slot = uniformInt(random, 0, 2);
      const offered = slot === 1 ? values[uniformInt(random, 0, 99)]! : position;
      log.push(slots[slot]!, offered);
      expected[slot]!.add(offered);
    }
    log.fold();
    sketches.forEach((sketch, slot) => expect(sketch.toBytes(), `slot ${slot}`).toEqual(expected[slot]!.toBytes()));
    expect(sketches.map((sketch) => sketch.unwritten)).toEqual([true, false, true]);
    // Folded positions are gone: folding again changes nothing.
    sketches[0]!.unwritten = false;
    log.fold();
    expect(sketches[0]!.unwritten).toBe(false);
    log.clear();
    expect(log.sketches).toEqual([]);
    expect(log.slot(new PartitionSketch())).toBe(0);
  });

  it('partition sketches: registers only grow, a write is whole, and the stored form reads back (sparse and dense)', () => {
    const small = new PartitionSketch();
    const positions = ['a', 'b', 'c'].map(redisHllPosition);
    expect(positions.map((position) => small.add(position))).toEqual([true, true, true]);
    expect(small.add(positions[0]!)).toBe(false);
    // A lower value for a register is no change; a higher one is.
    expect(small.add((positions[0]! & ~63) | 1)).toBe((positions[0]! & 63) < 1);
    expect(small.add((positions[0]! & ~63) | 60)).toBe(true);
    const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    PartitionSketch.mergeInto(registers, small.toBytes());
    expect(registers[positions[0]! >> 6]).toBe(60);
    expect(registers.filter((value) => value > 0).length).toBe(new Set(positions.map((position) => position >> 6)).size);

    // Past the in-memory threshold: held and stored dense; a restored copy writes the same bytes.
    const users = Array.from({ length: 5_000 }, (_, index) => `u${index}`);
    const big = new PartitionSketch();
    for (const user of users) big.add(redisHllPosition(user));
    const bytes = big.toBytes();
    expect(bytes.length).toBe(1 + REDIS_HLL_REGISTER_COUNT);
    expect(PartitionSketch.fromBytes(bytes).toBytes()).toEqual(bytes);
    expect(PartitionSketch.fromBytes(small.toBytes()).toBytes()).toEqual(small.toBytes());
    const merged = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    PartitionSketch.mergeInto(merged, bytes);
    expect(merged).toEqual(RedisHll.fromPositions(users.map(redisHllPosition)).registers());
    // Anything else is refused, not misread.
    expect(() => PartitionSketch.mergeInto(merged, Buffer.from([0x50, 1, 2]))).toThrow(/3 bytes each/);
    expect(() => PartitionSketch.fromBytes(Buffer.from([0x48, 0x59]))).toThrow(/leading byte/);
  });

  it('a sparse partition sketch stores its registers in register order, whatever order its elements came in', () => {
    // 600 elements: the sparse list grows several times, and stays under the dense threshold.
    const positions = Array.from({ length: 600 }, (_, index) => redisHllPosition(`visitor-${index}`));
    const forward = new PartitionSketch();
    for (const position of positions) forward.add(position);
    const backward = new PartitionSketch();
    for (const position of [...positions].reverse()) backward.add(position);
    const bytes = forward.toBytes();
    expect(bytes[0]).toBe(0x50);
    expect(backward.toBytes()).toEqual(bytes);
    const stored: number[] = [];
    for (let at = 1; at < bytes.length; at += 3) stored.push(((bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!) >> 6);
    expect(stored).toEqual([...new Set(positions.map((position) => position >> 6))].sort((a, b) => a - b));
    // A restored half that takes the other half writes what one sketch of all of them writes.
    const half = new PartitionSketch();
    for (const position of positions.slice(0, 300)) half.add(position);
    const restored = PartitionSketch.fromBytes(half.toBytes());
    for (const position of positions.slice(300)) restored.add(position);
    expect(restored.toBytes()).toEqual(bytes);
    const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    PartitionSketch.mergeInto(registers, bytes);
    expect(registers).toEqual(RedisHll.fromPositions(positions).registers());
  });

  it('SketchTtls: a key is claimed once per window; forgotten windows and clear() let it be claimed again', () => {
    const ttls = new SketchTtls();
    expect(ttls.claim(0, 'a')).toBe(true);
    expect(ttls.claim(0, 'a')).toBe(false);
    expect(ttls.claim(60_000, 'a')).toBe(true);
    ttls.forget((start) => start < 60_000);
    expect(ttls.claim(0, 'a')).toBe(true);
    expect(ttls.claim(60_000, 'a')).toBe(false);
    ttls.clear();
    expect(ttls.claim(60_000, 'a')).toBe(true);
  });

  const pagesView = defineView({
    name: 'test_pages',
    source: 'clickstream',
    groupBy: ['country'],
    window: tumbling('1m'),
    measures: { pages: topK('url', 3) },
  });
  /** Per partition 0 and 1, in turn: an event of [T0, T0 + 1m), then a checkpoint at `watermarkMs`; the sketch TTLs each set. */
  const sketchTtlOps = (sketchTtls: () => SketchTtls | undefined, watermarkMs: number) =>
    [0, 1].map((partition) => {
      const operator = createOperator({ ...contextFor(pagesView), partition, sketchTtls: sketchTtls() });
      expect(operator.process(clickstreamEvent(`u${partition}`, T0), 'US', T0, T0 - MINUTE_MS)).toBe(true);
      return checkpoint(operator, watermarkMs).filter((op) => op.code === 'T' && op.key.includes(':t:pages:')).length;
    });

  it("operators of one view on two partitions sharing a registry set a sketch's TTL once; on their own, once each", () => {
    const shared = new SketchTtls();
    expect(sketchTtlOps(() => shared, T0 - MINUTE_MS)).toEqual([1, 0]);
    expect(sketchTtlOps(() => undefined, T0 - MINUTE_MS)).toEqual([1, 1]);
  });

  it('a window that closes in a flush round keeps its sketch TTLs for the partitions flushed after the first (regression: 4 in 10 PEXPIREs repeated one)', () => {
    // By this round's checkpoints the window has closed for both partitions.
    const shared = new SketchTtls();
    expect(sketchTtlOps(() => shared, T0 + 3 * MINUTE_MS)).toEqual([1, 0]);
  });
});
