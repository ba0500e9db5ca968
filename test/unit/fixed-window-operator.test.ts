import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { approxDistinct, avg, count, max, min, PartitionSketch, REDIS_HLL_REGISTER_COUNT, RedisHll, redisHllPosition, sum, topK } from '../../shared/measures/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { defineView, sliding, tumbling, windowEndFor, windowStartsFor, type View } from '../../shared/views/index.ts';
import { FlushProgram } from '../../speed/flush-program.ts';
import { createOperator } from '../../speed/operators/index.ts';
import { hashWritesOf, opsOf, type FlushOp } from '../harness/flush-ops.ts';
import { checkpoint, clickstreamEvent, contextFor, keys, MINUTE_MS, T0 } from './helpers/windows.ts';

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

describe('fixed windows (createOperator), sketches', () => {
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
});
