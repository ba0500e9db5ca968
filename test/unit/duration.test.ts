import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseTimeMs } from '../../shared/time/index.ts';

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5_000],
    ['1m', 60_000],
    ['2h', 7_200_000],
    ['3d', 259_200_000],
    ['250', 250],
    [1500, 1500],
  ])('%s → %d ms', (text, expected) => {
    expect(parseDurationMs(text)).toBe(expected);
  });

  it.each(['soon', '', '-5s', '5 parsecs', -1, Number.NaN])('rejects %s', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('parseTimeMs', () => {
  const now = Date.parse('2026-01-02T03:04:05Z');
  it('reads ISO-8601, epoch ms, now and now-<duration>', () => {
    expect(parseTimeMs('2026-01-01T00:00:00Z', now)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseTimeMs('1767225600000', now)).toBe(1767225600000);
    expect(parseTimeMs('now', now)).toBe(now);
    expect(parseTimeMs('now-2h', now)).toBe(now - 7_200_000);
  });
  it('rejects nonsense', () => {
    expect(parseTimeMs('yesterday-ish', now)).toBeUndefined();
    expect(parseTimeMs('now-soon', now)).toBeUndefined();
  });
});
