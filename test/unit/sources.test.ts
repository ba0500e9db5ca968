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

describe('defineSource', () => {
  it('refuses a time field that is not a timestamp, naming source and field', () => {
    expect(() =>
      defineSource({ name: 'bad', fields: { at: { type: 'string' } }, timeField: 'at', keyFields: ['at'] }),
    ).toThrow(/source bad: timeField at must be a non-nullable timestampMs field/);
  });

  it('refuses key fields that do not exist', () => {
    expect(() =>
      defineSource({ name: 'bad', fields: { ts: { type: 'timestampMs' } }, timeField: 'ts', keyFields: ['nope' as 'ts'] }),
    ).toThrow(/keyFields: nope is not one of its fields/);
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
