import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { count, sum } from '../../shared/measures/index.ts';
import { defineView, session } from '../../shared/views/index.ts';
import { createOperator, decodeStoredSession, encodeStoredSession, SessionWindowOperator, sessionId, type StoredSession } from '../../speed/operators/index.ts';
import type { FlushOp } from '../harness/flush-ops.ts';
import { checkpoint, clickstreamEvent, contextFor, keys, MINUTE_MS, T0 } from './helpers/windows.ts';

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
