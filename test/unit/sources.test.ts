import { describe, expect, it } from 'vitest';
import { BraidError } from '../../shared/errors/index.ts';
import { clickstream, defineSource, getSource } from '../../shared/sources/index.ts';

const valid = { ts: 1767225600000, user_id: 'u1', session_id: 'u1-s1', url: '/', country: 'US', device: 'mobile', revenue: null };

describe('source decoding', () => {
  it('decodes a valid event and keys it by user_id', () => {
    const result = clickstream.decode(Buffer.from(JSON.stringify(valid)));
    expect(result).toEqual({ ok: true, event: valid });
    if (result.ok) {
      expect(clickstream.keyOf(result.event)).toBe('u1');
      expect(clickstream.eventTimeMs(result.event)).toBe(1767225600000);
    }
  });

  it('accepts an ISO-8601 event time and a missing nullable field', () => {
    const { revenue: _revenue, ...withoutRevenue } = valid;
    const result = clickstream.decode(JSON.stringify({ ...withoutRevenue, ts: '2026-01-01T00:00:00.000Z' }));
    expect(result).toEqual({ ok: true, event: { ...valid, ts: Date.parse('2026-01-01T00:00:00Z') } });
  });

  it.each([
    ['{"ts":1', /malformed JSON/],
    ['[1,2]', /not a JSON object/],
    [JSON.stringify({ ...valid, ts: 'yesterday' }), /ts:/],
    [JSON.stringify({ ...valid, user_id: undefined }), /user_id:/],
    [JSON.stringify({ ...valid, revenue: 'twelve' }), /revenue:/],
  ])('rejects %s with a reason naming the problem', (text, reason) => {
    const result = clickstream.decode(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('keeps only declared fields, on the fast path as through the schema', () => {
    expect(clickstream.decode(JSON.stringify({ ...valid, extra: 1 }))).toEqual({ ok: true, event: valid });
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: '2026-01-01T00:00:00.000Z', extra: 1 }))).toEqual({ ok: true, event: valid });
  });

  it('rejects what the schema rejects even where the fast path would look twice: fractional and negative times', () => {
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: 1.5 })).ok).toBe(false);
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: -1 })).ok).toBe(false);
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: '1969-12-31T23:59:59Z' })).ok).toBe(false);
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: '1970-01-01T00:00:00Z' }))).toMatchObject({ ok: true, event: { ts: 0 } });
  });

  it('checks every field type as the schema does, with reserved words as field names', () => {
    const typed = defineSource({
      name: 'typed',
      fields: {
        ts: { type: 'timestampMs' },
        class: { type: 'string' },
        default: { type: 'int' },
        price: { type: 'float' },
        flag: { type: 'bool' },
        note: { type: 'string', nullable: true },
      },
      timeField: 'ts',
      keyFields: ['class'],
    });
    const base = { ts: 5, class: 'a', default: 2, price: 1.5, flag: true, note: 'n' };
    expect(typed.validate(base)).toEqual({ ok: true, event: base });
    expect(typed.validate({ ...base, note: undefined })).toEqual({ ok: true, event: { ...base, note: null } });
    expect(typed.validate({ extra: 1, ...base })).toEqual({ ok: true, event: base });
    const rejected: Array<[string, unknown]> = [
      ['class', 7],
      ['class', null],
      ['default', 2.5],
      ['default', 2 ** 53],
      ['default', '2'],
      ['price', Number.POSITIVE_INFINITY],
      ['price', Number.NaN],
      ['price', '1.5'],
      ['flag', 1],
      ['note', 3],
      ['ts', null],
    ];
    for (const [field, value] of rejected) {
      const result = typed.validate({ ...base, [field]: value });
      expect(result.ok, `${field} = ${String(value)}`).toBe(false);
      if (!result.ok) expect(result.reason).toContain(`${field}:`);
    }
  });

  it('rejects a null message', () => {
    expect(clickstream.decode(null)).toEqual({ ok: false, reason: 'empty message (null value)' });
  });
});

describe('event time in other forms than epoch milliseconds', () => {
  const inSeconds = defineSource({
    name: 'in_seconds',
    fields: { date: { type: 'timestampMs', unit: 's' }, id: { type: 'string' }, seen: { type: 'timestampMs', nullable: true } },
    timeField: 'date',
    keyFields: ['id'],
  });

  it('decodes epoch seconds (fractions too), ISO-8601 with a zone and an ISO date to the same instants', () => {
    const instant = Date.parse('2026-03-08T07:30:00.250Z');
    expect(inSeconds.decode(JSON.stringify({ date: instant / 1000, id: 'a' }))).toEqual({ ok: true, event: { date: instant, id: 'a', seen: null } });
    expect(inSeconds.decode(JSON.stringify({ date: '2026-03-08T02:30:00.250-05:00', id: 'a' }))).toEqual({ ok: true, event: { date: instant, id: 'a', seen: null } });
    expect(inSeconds.decode(JSON.stringify({ date: '2026-03-08', id: 'a', seen: '2026-03-08T07:30:00.250Z' }))).toEqual({
      ok: true,
      event: { date: Date.parse('2026-03-08T00:00:00Z'), id: 'a', seen: instant },
    });
    // A millisecond field given ISO text: the fast path and the schema agree.
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: '2026-01-01T01:00:00+01:00' }))).toEqual({ ok: true, event: { ...valid, ts: 1767225600000 } });
  });

  it.each<[unknown, string]>([
    ['2026-03-08T07:30:00', 'a time without a zone names no instant'],
    ['2026-02-30', 'an impossible date'],
    ['2026-03-08T25:00:00Z', 'an impossible hour'],
    ['yesterday', 'not a time'],
    [-1, 'before 1970'],
    [true, 'not a number or text'],
  ])('refuses %j (%s), naming the field and the accepted forms', (date) => {
    const result = inSeconds.decode(JSON.stringify({ date, id: 'a' }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/^schema: date: expected epoch seconds \(a number ≥ 0\) or ISO-8601 text with a zone/);
  });

  it('refuses fractional epoch milliseconds but not fractional seconds', () => {
    expect(clickstream.decode(JSON.stringify({ ...valid, ts: 1767225600000.5 })).ok).toBe(false);
    expect(inSeconds.decode(JSON.stringify({ date: 1767225600.0005, id: 'a' }))).toMatchObject({ ok: true, event: { date: 1767225600001 } });
  });
});

describe('defineSource', () => {
  it('refuses a time field that is not a timestamp, naming source and field', () => {
    expect(() =>
      defineSource({ name: 'bad', fields: { at: { type: 'string' } }, timeField: 'at', keyFields: ['at'] }),
    ).toThrow(/source bad: timeField: at must be a non-nullable timestampMs field/);
  });

  it('refuses key fields that do not exist', () => {
    expect(() =>
      defineSource({ name: 'bad', fields: { ts: { type: 'timestampMs' } }, timeField: 'ts', keyFields: ['nope' as 'ts'] }),
    ).toThrow(/source bad: keyFields: nope is not one of its fields \(ts\)/);
  });

  it('joins several key fields', () => {
    const pairs = defineSource({
      name: 'pairs',
      fields: { ts: { type: 'timestampMs' }, a: { type: 'string' }, b: { type: 'int' } },
      timeField: 'ts',
      keyFields: ['a', 'b'],
    });
    expect(pairs.keyOf({ ts: 0, a: 'x', b: 7 })).toBe('x|7');
  });

  it('getSource names the known sources when asked for an unknown one', () => {
    expect(() => getSource('nope')).toThrow(BraidError);
    try {
      getSource('nope');
    } catch (error) {
      expect((error as BraidError).hint).toMatch(/clickstream/);
    }
  });
});
