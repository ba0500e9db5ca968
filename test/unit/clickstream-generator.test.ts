import { describe, expect, it } from 'vitest';
import { ClickstreamGenerator, type GeneratedMessage } from '../../shared/demo/index.ts';
import { clickstream } from '../../shared/sources/index.ts';

const START = Date.parse('2026-01-01T00:00:00Z');

function generate(count: number, options: ConstructorParameters<typeof ClickstreamGenerator>[0]): GeneratedMessage[] {
  const generator = new ClickstreamGenerator(options);
  // Event-time mode as `produce --start --span 1h` does it.
  return Array.from({ length: count }, (_, index) => generator.next(START + Math.floor((3_600_000 * index) / count)));
}

describe('ClickstreamGenerator', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const options = { seed: 42, disorderMs: 5_000, lateFraction: 0.05, badFraction: 0.05 };
    const first = generate(2_000, options);
    expect(generate(2_000, options)).toEqual(first);
    expect(generate(2_000, { ...options, seed: 43 })).not.toEqual(first);
  });

  it('honours the bad and late fractions, and every kind decodes (or fails) as labelled', () => {
    const count = 100_000;
    const messages = generate(count, { seed: 7, lateFraction: 0.02, badFraction: 0.01, disorderMs: 5_000, lateByMs: 600_000 });
    const bad = messages.filter((m) => m.kind === 'bad');
    const late = messages.filter((m) => m.kind === 'late');
    // Binomial: 4 standard deviations either side.
    expect(Math.abs(bad.length - 1_000)).toBeLessThan(4 * Math.sqrt(1_000));
    expect(Math.abs(late.length - 2_000)).toBeLessThan(4 * Math.sqrt(2_000));
    for (const message of bad) expect(clickstream.decode(message.value).ok).toBe(false);
    for (const message of messages.filter((m) => m.kind !== 'bad')) {
      const decoded = clickstream.decode(message.value);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(decoded.event.ts).toBe(message.eventTimeMs);
    }
  });

  it('keeps disorder within its bound and puts late events far behind', () => {
    const count = 20_000;
    const generator = new ClickstreamGenerator({ seed: 3, disorderMs: 5_000, lateFraction: 0.1, lateByMs: 600_000 });
    for (let index = 0; index < count; index++) {
      const base = START + index * 10;
      const message = generator.next(base);
      const behind = base - message.eventTimeMs!;
      if (message.kind === 'ok') {
        expect(behind).toBeGreaterThanOrEqual(0);
        expect(behind).toBeLessThanOrEqual(5_000);
      } else {
        expect(behind).toBeGreaterThanOrEqual(600_000);
        expect(behind).toBeLessThanOrEqual(1_200_000);
      }
    }
  });

  it('has a skewed URL distribution, sessions per user and revenue on a small fraction', () => {
    const events = generate(50_000, { seed: 11 }).map((m) => JSON.parse(m.value) as Record<string, unknown>);
    const perUrl = new Map<string, number>();
    for (const event of events) perUrl.set(event.url as string, (perUrl.get(event.url as string) ?? 0) + 1);
    const ranked = [...perUrl.values()].sort((a, b) => b - a);
    const top10 = ranked.slice(0, 10).reduce((sum, n) => sum + n, 0);
    expect(top10 / events.length).toBeGreaterThan(0.25); // a few hot URLs
    expect(perUrl.size).toBeGreaterThan(1_000); // and a long tail

    const withRevenue = events.filter((event) => event.revenue !== null);
    expect(withRevenue.length / events.length).toBeGreaterThan(0.005);
    expect(withRevenue.length / events.length).toBeLessThan(0.1);

    for (const event of events) expect(event.session_id as string).toMatch(new RegExp(`^${event.user_id as string}-s\\d+$`));
    const sessionsPerUser = new Map<string, Set<string>>();
    for (const event of events) {
      const sessions = sessionsPerUser.get(event.user_id as string) ?? new Set();
      sessions.add(event.session_id as string);
      sessionsPerUser.set(event.user_id as string, sessions);
    }
    expect(Math.max(...[...sessionsPerUser.values()].map((s) => s.size))).toBeGreaterThan(1);
  });

  it('refuses fractions that add up to more than 1', () => {
    expect(() => new ClickstreamGenerator({ seed: 1, lateFraction: 0.6, badFraction: 0.5 })).toThrow(RangeError);
  });
});
