import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ReadLimits } from '../../serving/read-limits.ts';
import type { Principal } from '../../serving/auth/authenticator.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { BraidError } from '../../shared/errors/index.ts';

const config = (limits: Record<string, number>) =>
  loadConfig({ env: {}, cwd: '/', overrides: Object.fromEntries(Object.entries({ cellsPerSecond: 0, ...limits }).map(([key, value]) => [`serving.limits.${key}`, value])) });

const caller = (name: string): Principal => ({ kind: 'apiKey', name, roles: ['admin'] });

function refusal(work: () => unknown): BraidError {
  try {
    work();
  } catch (thrown) {
    if (thrown instanceof BraidError) return thrown;
    throw thrown;
  }
  throw new Error('expected a refusal');
}

describe('read limits', () => {
  // cellsPerSecond 0: nothing here reaches Redis.
  const noRedis = {} as Redis;

  it('fail a request past its budget of cells with LIMIT_EXCEEDED naming the limit, counting what was read', () => {
    const budget = new ReadLimits(config({ maxCellsPerRequest: 100 }), noRedis).forRequest(caller('dashboards'));
    budget.charge(60);
    budget.charge(40);
    expect(budget.work.cells).toBe(100);
    const error = refusal(() => budget.charge(1));
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.fields).toMatchObject({ limit: 'maxCellsPerRequest', cells: 101 });
    expect(error.message).toMatch(/more than 100 cells/);
  });

  it('bound the reads doing work at once, per caller and in all, until they are released', () => {
    const limits = new ReadLimits(config({ maxConcurrentReadsPerCaller: 2, maxConcurrentReads: 3 }), noRedis);
    const a = limits.forRequest(caller('a'));
    const releases = [a.admit(), a.admit()];
    const perCaller = refusal(() => a.admit());
    expect(perCaller.code).toBe('RATE_LIMITED');
    expect(perCaller.fields).toMatchObject({ limit: 'maxConcurrentReadsPerCaller', retryAfterMs: 1_000 });
    // Another caller has room of its own, up to the server's bound.
    const b = limits.forRequest(caller('b'));
    releases.push(b.admit());
    expect(limits.activeReads).toBe(3);
    expect(refusal(() => b.admit()).fields.limit).toBe('maxConcurrentReads');
    // Releasing (twice is once) makes room again.
    releases[0]!();
    releases[0]!();
    expect(limits.activeReads).toBe(2);
    expect(() => a.admit()).not.toThrow();
  });

  it('cap the subscriptions a caller holds open', () => {
    const limits = new ReadLimits(config({ maxSubscriptionsPerCaller: 2 }), noRedis);
    const first = limits.openSubscription(caller('a'));
    limits.openSubscription(caller('a'));
    const error = refusal(() => limits.openSubscription(caller('a')));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.fields.limit).toBe('maxSubscriptionsPerCaller');
    expect(() => limits.openSubscription(caller('b'))).not.toThrow();
    first();
    expect(() => limits.openSubscription(caller('a'))).not.toThrow();
  });

  it('let a caller in while its budget per second is not spent', () => {
    const limits = new ReadLimits(config({}), noRedis);
    expect(() => limits.checkCaller(caller('a'))).not.toThrow();
  });
});
