import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Jwt } from 'hono/utils/jwt';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Authenticator, hashApiKey, REDIS_KEY_CACHE_ENTRIES, type Credentials } from '../../serving/auth/authenticator.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';

const SECRET = 'a-test-secret-that-is-at-least-32-characters';
const CONFIG_KEY = 'brd_config-key';
const REDIS_KEY = 'brd_redis-key';

/** Redis answering HGET from `stored` (by key hash) a turn of the event loop later, and the hashes it was asked for. */
function fakeRedis(stored: Record<string, { name: string; roles: string[] }> = {}) {
  const lookups: string[] = [];
  const redis = {
    hget: async (_hash: string, field: string) => {
      lookups.push(field);
      await new Promise((resolve) => setImmediate(resolve));
      const entry = stored[field];
      return entry ? JSON.stringify(entry) : null;
    },
  };
  return { redis: redis as unknown as Redis, lookups };
}

/** An authenticator over defaults plus `overrides` (a config key, a JWT secret, no anonymous access) and a fake Redis holding one key. */
function authenticator(overrides: Record<string, unknown> = {}) {
  const config = loadConfig({
    env: {},
    cwd: mkdtempSync(path.join(os.tmpdir(), 'braid-authenticator-')),
    overrides: {
      'serving.auth.apiKeys': [{ name: 'dashboards', sha256: hashApiKey(CONFIG_KEY), roles: ['marketing'] }],
      'serving.auth.jwtSecret': SECRET,
      ...overrides,
    },
  });
  const { redis, lookups } = fakeRedis({ [hashApiKey(REDIS_KEY)]: { name: 'from-redis', roles: ['admin'] } });
  return { auth: new Authenticator(config, redis), lookups };
}

/** The BraidError `authenticate` fails with. */
async function refusal(auth: Authenticator, credentials: Credentials): Promise<BraidError> {
  const thrown = await auth.authenticate(credentials).then(
    (principal) => new Error(`authenticated as ${principal.name}`),
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(BraidError);
  return thrown as BraidError;
}

const nowS = () => Math.floor(Date.now() / 1000);
const bearer = (token: string, clientAddress = '10.0.0.1'): Credentials => ({ authorization: `Bearer ${token}`, clientAddress });
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

afterEach(() => {
  vi.useRealTimers();
});

describe('Authenticator: API keys held in Redis', () => {
  it('remembers at most REDIS_KEY_CACHE_ENTRIES hashes however many unknown keys arrive, and asks Redis once per remembered hash', async () => {
    const { auth, lookups } = authenticator({ 'serving.limits.failedAuthPerSecond': 0 });
    const unknown = REDIS_KEY_CACHE_ENTRIES + 2_000;
    for (let i = 0; i < unknown; i++) {
      expect((await refusal(auth, { apiKey: `brd_random-${i}`, clientAddress: '10.0.0.1' })).code).toBe(ErrorCode.UNAUTHENTICATED);
    }
    expect(lookups).toHaveLength(unknown);
    expect(auth.rememberedKeys).toBe(REDIS_KEY_CACHE_ENTRIES);

    // The latest unknown key is remembered (not asked again); a key in Redis is found and remembered too.
    await refusal(auth, { apiKey: `brd_random-${unknown - 1}` });
    expect(lookups).toHaveLength(unknown);
    expect(await auth.authenticate({ apiKey: REDIS_KEY })).toEqual({ name: 'from-redis', kind: 'apiKey', roles: ['admin'] });
    expect(await auth.authenticate({ authorization: `ApiKey ${REDIS_KEY}` })).toMatchObject({ name: 'from-redis' });
    expect(lookups).toHaveLength(unknown + 1);
    expect(auth.rememberedKeys).toBe(REDIS_KEY_CACHE_ENTRIES);
  });

  it('answers a key in Redis whose lookup a flood of unknown keys evicts while it is in flight', async () => {
    const { auth } = authenticator({ 'serving.limits.failedAuthPerSecond': 0 });
    const valid = auth.authenticate({ apiKey: REDIS_KEY });
    const flood = Array.from({ length: REDIS_KEY_CACHE_ENTRIES + 500 }, (_, i) => auth.authenticate({ apiKey: `brd_flood-${i}` }));
    const settled = await Promise.allSettled(flood);
    expect(settled.every((outcome) => outcome.status === 'rejected' && (outcome.reason as BraidError).code === ErrorCode.UNAUTHENTICATED)).toBe(true);
    expect(await valid).toMatchObject({ name: 'from-redis', kind: 'apiKey' });
    expect(auth.rememberedKeys).toBeLessThanOrEqual(REDIS_KEY_CACHE_ENTRIES);
  });

  it('finds config keys without asking Redis', async () => {
    const { auth, lookups } = authenticator();
    expect(await auth.authenticate({ apiKey: CONFIG_KEY })).toEqual({ name: 'dashboards', kind: 'apiKey', roles: ['marketing'] });
    expect(lookups).toEqual([]);
  });
});

describe('Authenticator: failed authentications per client address', () => {
  it('defaults to 10 a second', () => {
    const config = loadConfig({ env: {}, cwd: mkdtempSync(path.join(os.tmpdir(), 'braid-authenticator-')) });
    expect(config.serving.limits.failedAuthPerSecond).toBe(10);
  });

  it('counts every kind of failure, then refuses failing attempts with RATE_LIMITED and asks Redis nothing', async () => {
    const { auth, lookups } = authenticator({ 'serving.limits.failedAuthPerSecond': 4 });
    const attacker = '203.0.113.7';
    const failures: Credentials[] = [
      { apiKey: 'brd_guess-1', clientAddress: attacker },
      { authorization: 'Bearer not-a-jwt', clientAddress: attacker },
      { authorization: 'Basic dXNlcjpwYXNz', clientAddress: attacker },
      { clientAddress: attacker },
    ];
    for (const credentials of failures) expect((await refusal(auth, credentials)).code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(lookups).toHaveLength(1);

    const limited = await refusal(auth, { apiKey: 'brd_guess-2', clientAddress: attacker });
    expect(limited.code).toBe(ErrorCode.RATE_LIMITED);
    expect(limited.message).toMatch(/failedAuthPerSecond/);
    expect(limited.fields.limit).toBe('failedAuthPerSecond');
    expect(limited.fields.retryAfterMs).toBeGreaterThan(0);
    expect(limited.fields.retryAfterMs).toBeLessThanOrEqual(1_000);
    for (let i = 0; i < 100; i++) expect((await refusal(auth, { apiKey: `brd_flood-${i}`, clientAddress: attacker })).code).toBe(ErrorCode.RATE_LIMITED);
    expect((await refusal(auth, bearer('still-not-a-jwt', attacker))).code).toBe(ErrorCode.RATE_LIMITED);
    expect((await refusal(auth, { clientAddress: attacker })).code).toBe(ErrorCode.RATE_LIMITED);
    // Not one of the blocked attempts reached Redis.
    expect(lookups).toHaveLength(1);

    // Another address is counted apart.
    expect((await refusal(auth, { apiKey: 'brd_guess-3', clientAddress: '198.51.100.1' })).code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(lookups).toHaveLength(2);
  });

  it('lets credentials that verify without Redis through from a blocked address', async () => {
    const { auth, lookups } = authenticator({ 'serving.limits.failedAuthPerSecond': 2 });
    const shared = '192.0.2.10';
    // A Redis key remembered before the address is blocked.
    expect(await auth.authenticate({ apiKey: REDIS_KEY, clientAddress: shared })).toMatchObject({ name: 'from-redis' });
    for (let i = 0; i < 3; i++) await refusal(auth, { apiKey: `brd_guess-${i}`, clientAddress: shared });
    expect((await refusal(auth, { apiKey: 'brd_guess-x', clientAddress: shared })).code).toBe(ErrorCode.RATE_LIMITED);
    const lookupsWhenBlocked = lookups.length;

    expect(await auth.authenticate({ apiKey: CONFIG_KEY, clientAddress: shared })).toMatchObject({ name: 'dashboards' });
    expect(await auth.authenticate({ apiKey: REDIS_KEY, clientAddress: shared })).toMatchObject({ name: 'from-redis' });
    const jwt = await Jwt.sign({ sub: 'ann', roles: ['marketing'], exp: nowS() + 60 }, SECRET, 'HS256');
    expect(await auth.authenticate(bearer(jwt, shared))).toEqual({ name: 'ann', kind: 'jwt', roles: ['marketing'] });
    expect(lookups).toHaveLength(lookupsWhenBlocked);
  });

  it('counts a second at a time', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const { auth } = authenticator({ 'serving.limits.failedAuthPerSecond': 3 });
    const attempt = () => refusal(auth, { authorization: 'Digest x', clientAddress: '10.1.1.1' });
    for (let i = 0; i < 3; i++) expect((await attempt()).code).toBe(ErrorCode.UNAUTHENTICATED);
    const limited = await attempt();
    expect(limited.code).toBe(ErrorCode.RATE_LIMITED);
    vi.advanceTimersByTime((limited.fields.retryAfterMs as number) + 1);
    expect((await attempt()).code).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('is off at 0', async () => {
    const { auth } = authenticator({ 'serving.limits.failedAuthPerSecond': 0 });
    for (let i = 0; i < 50; i++) expect((await refusal(auth, { apiKey: `brd_guess-${i}`, clientAddress: '10.0.0.9' })).code).toBe(ErrorCode.UNAUTHENTICATED);
  });
});

describe('Authenticator: JWTs', () => {
  it('accepts an HS256 JWT with `sub`, `roles` and a future `exp`', async () => {
    const { auth } = authenticator();
    const token = await Jwt.sign({ sub: 'ann', roles: ['marketing', 'support'], exp: nowS() + 60, nbf: nowS() - 10 }, SECRET, 'HS256');
    expect(await auth.authenticate(bearer(token))).toEqual({ name: 'ann', kind: 'jwt', roles: ['marketing', 'support'] });
  });

  it('refuses a JWT without `exp`', async () => {
    const { auth } = authenticator();
    const error = await refusal(auth, bearer(await Jwt.sign({ sub: 'ann', roles: ['admin'] }, SECRET, 'HS256')));
    expect(error.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(error.message).toMatch(/no `exp`/);
  });

  it('refuses an expired JWT, one not valid yet, one with `exp` not a number, and one issued in the future', async () => {
    const { auth } = authenticator();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ exp: nowS() - 60 }, /expired/],
      [{ exp: nowS() + 3_600, nbf: nowS() + 600 }, /not valid yet/],
      [{ exp: 'never' }, /expired/],
      [{ exp: nowS() + 3_600, iat: nowS() + 600 }, /`iat`/],
    ];
    for (const [claims, reason] of cases) {
      const error = await refusal(auth, bearer(await Jwt.sign({ sub: 'ann', roles: ['admin'], ...claims }, SECRET, 'HS256')));
      expect(error.code, JSON.stringify(claims)).toBe(ErrorCode.UNAUTHENTICATED);
      expect(error.message, JSON.stringify(claims)).toMatch(reason);
    }
  });

  it('refuses `alg: none`, another algorithm and a signature made with another key', async () => {
    const { auth } = authenticator();
    const claims = { sub: 'eve', roles: ['admin'], exp: nowS() + 60 };
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
    const unsignedError = await refusal(auth, bearer(unsigned));
    expect(unsignedError.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(unsignedError.message).toMatch(/HS256/);
    // `alg: none` with a signature part copied from a real token, too.
    const real = await Jwt.sign(claims, SECRET, 'HS256');
    expect((await refusal(auth, bearer(`${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.${real.split('.')[2]}`))).code).toBe(ErrorCode.UNAUTHENTICATED);

    const hs512 = await Jwt.sign(claims, SECRET, 'HS512');
    expect((await refusal(auth, bearer(hs512))).message).toMatch(/HS256/);

    const forged = await Jwt.sign(claims, 'another-secret-that-is-at-least-32-chars', 'HS256');
    const forgedError = await refusal(auth, bearer(forged));
    expect(forgedError.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(forgedError.message).toMatch(/signature/);

    // The real token's header and signature around a payload with more roles.
    const [header, , signature] = real.split('.');
    expect((await refusal(auth, bearer(`${header}.${base64url({ ...claims, roles: ['admin', 'root'] })}.${signature}`))).message).toMatch(/signature/);
  });

  it('reads roles only from `roles`, an array of role names', async () => {
    const { auth } = authenticator();
    const exp = nowS() + 60;
    const roleClaim = await refusal(auth, bearer(await Jwt.sign({ sub: 'ann', role: 'admin', exp }, SECRET, 'HS256')));
    expect(roleClaim.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(roleClaim.message).toMatch(/`roles`/);
    expect(roleClaim.hint).toMatch(/`role` claim is not read/);
    for (const roles of ['admin', [1, 2], ['admin', 7], [], [''], { admin: true }, null]) {
      const error = await refusal(auth, bearer(await Jwt.sign({ sub: 'ann', roles, exp }, SECRET, 'HS256')));
      expect(error.code, JSON.stringify(roles)).toBe(ErrorCode.UNAUTHENTICATED);
      expect(error.message, JSON.stringify(roles)).toMatch(/`roles`/);
    }
  });

  it('never repeats the token in its messages', async () => {
    const { auth } = authenticator({ 'serving.limits.failedAuthPerSecond': 0 });
    const marker = 'SECRET-MARKER-f00dfeed';
    const exp = nowS() + 60;
    const tokens = [
      await Jwt.sign({ sub: marker, roles: ['admin'], exp: nowS() - 60 }, SECRET, 'HS256'),
      await Jwt.sign({ sub: marker, roles: ['admin'], exp, nbf: exp }, SECRET, 'HS256'),
      await Jwt.sign({ sub: marker, roles: ['admin'], exp }, 'another-secret-that-is-at-least-32-chars', 'HS256'),
      `${base64url({ alg: 'none', typ: 'JWT', kid: marker })}.${base64url({ sub: marker, exp })}.`,
      `${marker}.${marker}.${marker}`,
      marker,
    ];
    for (const token of tokens) {
      const error = await refusal(auth, bearer(token));
      expect(error.code).toBe(ErrorCode.UNAUTHENTICATED);
      expect(error.message).toMatch(/invalid JWT/);
      for (const text of [error.message, error.hint ?? '', JSON.stringify(error.fields)]) {
        expect(text).not.toContain(token);
        expect(text).not.toContain(marker);
      }
    }
    // A token pasted without a scheme is not repeated as the scheme either.
    const pasted = await Jwt.sign({ sub: marker, roles: ['admin'], exp }, SECRET, 'HS256');
    const unsupported = await refusal(auth, { authorization: pasted, clientAddress: '10.0.0.1' });
    expect(unsupported.message).toBe('unsupported Authorization scheme');
    expect((await refusal(auth, { authorization: 'Basic dXNlcjpwYXNz' })).message).toBe('unsupported Authorization scheme "Basic"');
  });
});
