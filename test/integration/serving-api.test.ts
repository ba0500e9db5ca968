import path from 'node:path';
import { Jwt } from 'hono/utils/jwt';
import { describe, expect, it } from 'vitest';
import { hashApiKey, ServingKeys } from '../../serving/index.ts';
import { tempDir, testConfig, testRedis, testServingApp, waitFor } from '../harness/index.ts';

const MARKETING_KEY = 'brd_marketing-test-key';
const ADMIN_KEY = 'brd_admin-test-key';
const JWT_SECRET = 'a-test-secret-that-is-at-least-32-characters';

type GraphQLBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

/** A serving app with auth on (no anonymous access), two API keys in config and a JWT secret. */
async function securedApp(redisPrefix: string, dataDir: string, overrides: Record<string, unknown> = {}) {
  const config = testConfig({
    'redis.keyPrefix': redisPrefix,
    dataDir,
    'serving.auth.apiKeys': [
      { name: 'dashboards', sha256: hashApiKey(MARKETING_KEY), roles: ['marketing'] },
      { name: 'ops', sha256: hashApiKey(ADMIN_KEY), roles: ['admin'] },
    ],
    'serving.auth.jwtSecret': JWT_SECRET,
    'serving.auth.roles': { marketing: ['page_views', 'country_minutes'], admin: ['*'] },
    ...overrides,
  });
  const serving = await testServingApp(config);
  const graphql = async (query: string, headers: Record<string, string> = { 'x-api-key': ADMIN_KEY }) => {
    const response = await serving.app.request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
    return { status: response.status, body: (await response.json()) as GraphQLBody };
  };
  return { serving, graphql, config };
}

const PAGE_QUERY = '{ pageViews(from: "now-1h") { rows { url views } meta { layers partial } } }';

describe('serving API: auth, roles, limits and errors', () => {
  it('needs credentials outside development mode; API keys (config and Redis) and HS256 JWTs carry roles that grant views', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving, graphql } = await securedApp(redis.prefix, path.join(dir.path, 'data'));
    await using _ = serving;

    const anonymous = await graphql(PAGE_QUERY, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const restAnonymous = await serving.app.request('/v1/views/page_views');
    expect(restAnonymous.status).toBe(401);
    expect(((await restAnonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    expect((await graphql(PAGE_QUERY, { 'x-api-key': 'brd_wrong' })).body.errors![0]!.message).toMatch(/unknown API key/);

    // Role `marketing` reads page_views but not user_sessions.
    const allowed = await graphql(PAGE_QUERY, { 'x-api-key': MARKETING_KEY });
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data!.pageViews).toMatchObject({ rows: [], meta: { layers: [], partial: false } });
    const denied = await graphql('{ userSessions { rows { user_id } } }', { authorization: `ApiKey ${MARKETING_KEY}` });
    expect(denied.body.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', view: 'user_sessions' });
    expect((await serving.app.request('/v1/views/user_sessions', { headers: { 'x-api-key': MARKETING_KEY } })).status).toBe(403);
    const listed = (await (await serving.app.request('/v1/views', { headers: { 'x-api-key': MARKETING_KEY } })).json()) as { views: Array<{ name: string }> };
    expect(listed.views.map((view) => view.name)).toEqual(['page_views', 'country_minutes']);
    expect((await graphql('{ userSessions { rows { user_id } } }', { 'x-api-key': ADMIN_KEY })).body.errors).toBeUndefined();

    // A key stored (hashed) in Redis.
    await redis.hset(new ServingKeys(redis.prefix).apiKeys(), hashApiKey('brd_from-redis'), JSON.stringify({ name: 'redis-key', roles: ['marketing'] }));
    expect((await graphql(PAGE_QUERY, { 'x-api-key': 'brd_from-redis' })).body.errors).toBeUndefined();

    // JWTs: the roles claim grants; a bad signature or an expired token is refused.
    const nowS = Math.floor(Date.now() / 1000);
    const marketingJwt = await Jwt.sign({ sub: 'ann', roles: ['marketing'], exp: nowS + 60 }, JWT_SECRET, 'HS256');
    expect((await graphql(PAGE_QUERY, { authorization: `Bearer ${marketingJwt}` })).body.errors).toBeUndefined();
    expect((await graphql('{ userSessions { rows { user_id } } }', { authorization: `Bearer ${marketingJwt}` })).body.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const forged = await Jwt.sign({ sub: 'eve', roles: ['admin'] }, 'another-secret-that-is-at-least-32-chars', 'HS256');
    const forgedAnswer = await graphql(PAGE_QUERY, { authorization: `Bearer ${forged}` });
    expect(forgedAnswer.status).toBe(401);
    expect(forgedAnswer.body.errors![0]!.message).toMatch(/invalid JWT/);
    const expired = await Jwt.sign({ sub: 'ann', roles: ['admin'], exp: nowS - 60 }, JWT_SECRET, 'HS256');
    expect((await graphql(PAGE_QUERY, { authorization: `Bearer ${expired}` })).status).toBe(401);
  });

  it('introspection shows a caller the views it may read, and nothing when serving.introspection is off', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving, graphql } = await securedApp(redis.prefix, path.join(dir.path, 'data'));
    await using _ = serving;
    const INTROSPECT = '{ __schema { queryType { fields { name } } subscriptionType { fields { name } } types { name } } }';
    type Schema = { queryType: { fields: Array<{ name: string }> }; subscriptionType: { fields: Array<{ name: string }> }; types: Array<{ name: string }> };
    const schemaOf = async (headers: Record<string, string>) => {
      const answer = await graphql(INTROSPECT, headers);
      expect(answer.body.errors).toBeUndefined();
      return (answer.body.data as { __schema: Schema }).__schema;
    };
    const marketing = await schemaOf({ 'x-api-key': MARKETING_KEY });
    expect(marketing.queryType.fields.map((field) => field.name).sort()).toEqual(['countryMinutes', 'pageViews', 'views']);
    expect(marketing.subscriptionType.fields.map((field) => field.name).sort()).toEqual(['countryMinutesUpdated', 'pageViewsUpdated']);
    expect(marketing.types.map((type) => type.name).filter((name) => /UserSessions/.test(name))).toEqual([]);
    const hidden = await graphql('{ __type(name: "UserSessionsRow") { name fields { name } } }', { 'x-api-key': MARKETING_KEY });
    expect(hidden.body).toEqual({ data: { __type: null } });
    // Through a fragment too.
    const viaFragment = await graphql('query { ...f } fragment f on Query { __schema { queryType { fields { name } } } }', { 'x-api-key': MARKETING_KEY });
    expect(JSON.stringify(viaFragment.body)).not.toMatch(/userSessions/);
    const admin = await schemaOf({ 'x-api-key': ADMIN_KEY });
    expect(admin.queryType.fields.map((field) => field.name).sort()).toEqual(['countryMinutes', 'pageViews', 'userSessions', 'views']);
    // Data operations still run on the whole schema: reading a view the role may not is FORBIDDEN, not unknown.
    expect((await graphql('{ userSessions { rows { user_id } } }', { 'x-api-key': MARKETING_KEY })).body.errors![0]!.extensions!.code).toBe('FORBIDDEN');

    const off = await securedApp(redis.prefix, path.join(dir.path, 'data'), { 'serving.introspection': 'off' });
    await using _off = off.serving;
    const refused = await off.graphql(INTROSPECT, { 'x-api-key': ADMIN_KEY });
    expect(refused.body.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    expect(refused.body.errors![0]!.message).toMatch(/serving\.introspection/);
    expect((await off.graphql(PAGE_QUERY, { 'x-api-key': ADMIN_KEY })).body.errors).toBeUndefined();
  });

  it('refuses a client address’s failing attempts past serving.limits.failedAuthPerSecond with 429 and Retry-After; valid credentials still pass', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving, graphql } = await securedApp(redis.prefix, path.join(dir.path, 'data'), { 'serving.limits.failedAuthPerSecond': 3, 'serving.trustProxy': true });
    await using _ = serving;
    const from = (address: string, headers: Record<string, string>) => ({ 'x-forwarded-for': address, ...headers });
    for (let i = 0; i < 3; i++) expect((await graphql(PAGE_QUERY, from('203.0.113.5', { 'x-api-key': `brd_guess-${i}` }))).status).toBe(401);
    const limited = await serving.app.request('/v1/views/page_views', { headers: from('203.0.113.5', { 'x-api-key': 'brd_guess-3' }) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(((await limited.json()) as { error: Record<string, unknown> }).error).toMatchObject({ code: 'RATE_LIMITED', limit: 'failedAuthPerSecond' });
    const graphqlLimited = await graphql(PAGE_QUERY, from('203.0.113.5', {}));
    expect(graphqlLimited.status).toBe(429);
    expect(graphqlLimited.body.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'failedAuthPerSecond' });
    expect((await graphql(PAGE_QUERY, from('203.0.113.5', { 'x-api-key': MARKETING_KEY }))).body.errors).toBeUndefined();
    expect((await graphql(PAGE_QUERY, from('198.51.100.8', { 'x-api-key': 'brd_guess-4' }))).status).toBe(401);
  });

  it('turns every bad argument and every limit into an error with a code that names it, never a 500', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving, graphql } = await securedApp(redis.prefix, path.join(dir.path, 'data'), {
      'serving.limits.maxRows': 500,
      'serving.limits.maxRangeMs': '7d',
      'serving.limits.maxRangeByView': { user_sessions: '1d' },
      'serving.limits.maxDepth': 3,
      'serving.limits.maxAliases': 3,
    });
    await using _ = serving;
    const errorOf = async (query: string) => {
      const { status, body } = await graphql(query);
      expect(status, query).toBe(200);
      expect(body.errors, query).toHaveLength(1);
      return body.errors![0]!;
    };
    expect((await errorOf('{ pageViews(from: "now", to: "now-1h") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'from' });
    expect((await errorOf('{ pageViews(granularity: "90s") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'granularity' });
    expect((await errorOf('{ pageViews(granularity: "soon") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'granularity' });
    const sliding = await errorOf('{ countryMinutes(granularity: "1h") { rows { country } } }');
    expect(sliding.extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'granularity' });
    expect(sliding.message).toMatch(/overlap/);
    expect((await errorOf('{ pageViews(timeZone: "Mars/Base") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'timeZone' });
    expect((await errorOf('{ pageViews(from: "99999999999999999999") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'from' });
    expect((await errorOf('{ pageViews(to: "8640000000000001") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'to' });
    expect((await errorOf('{ pageViews(granularity: "99999999999d") { rows { url } } }')).extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'granularity' });
    const kolkata = await errorOf('{ pageViews(granularity: "1h", timeZone: "Asia/Kolkata") { rows { url } } }');
    expect(kolkata.extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'timeZone' });
    expect(kolkata.message).toMatch(/offset \(\+05:30\) is not a whole number of 1h/);
    expect((await errorOf('{ pageViews(limit: 501) { rows { url } } }')).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', argument: 'limit' });
    expect((await errorOf('{ pageViews(from: "now-8d") { rows { url } } }')).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', argument: 'from' });
    expect((await errorOf('{ userSessions(from: "now-2d") { rows { user_id } } }')).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED' });
    // Typed arguments: GraphQL validation names the argument.
    expect((await errorOf('{ pageViews(from: "yesterday-ish") { rows { url } } }')).message).toMatch(/"from".*DateTime|DateTime.*yesterday-ish/s);
    expect((await errorOf('{ pageViews(where: { nosuch: { eq: "x" } }) { rows { url } } }')).message).toMatch(/nosuch/);
    expect((await errorOf('{ pageViews(where: { url: { eq: 5 } }) { rows { url } } }')).message).toMatch(/String cannot represent/);
    // graphql-armor limits carry a code.
    expect((await errorOf('{ a: views { name } b: views { name } c: views { name } d: views { name } }')).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxAliases' });
    expect((await errorOf('{ pageViews { meta { missing { from } } rows { url } } views { name } }')).extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxDepth' });

    // REST: the same checks, as HTTP errors with the code and the argument.
    const rest = async (url: string) => {
      const response = await serving.app.request(url, { headers: { 'x-api-key': ADMIN_KEY } });
      return { status: response.status, error: ((await response.json()) as { error: Record<string, unknown> }).error };
    };
    expect(await rest('/v1/views/page_views?from=now&to=now-1h')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'from' } });
    expect(await rest('/v1/views/page_views?nosuch=1')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'where.nosuch' } });
    expect(await rest('/v1/views/page_views?orderBy=clicks')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'orderBy' } });
    expect(await rest('/v1/views/page_views?limit=-3')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'limit' } });
    expect(await rest('/v1/views/page_views?layer=both')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'layer' } });
    expect(await rest('/v1/views/page_views?timeZone=Mars/Base')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'timeZone' } });
    expect(await rest('/v1/views/page_views?granularity=2w')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'granularity' } });
    // Times and granularities past what a date can be: named, never an internal error.
    expect(await rest('/v1/views/page_views?from=99999999999999999999')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'from' } });
    expect(await rest('/v1/views/page_views?to=8640000000000001')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'to' } });
    expect(await rest('/v1/views/page_views?granularity=99999999999d')).toMatchObject({ status: 400, error: { code: 'BAD_ARGUMENT', argument: 'granularity' } });
    expect(await rest('/v1/views/nosuch')).toMatchObject({ status: 404, error: { code: 'NOT_FOUND' } });
  });

  it('rolls up to calendar buckets of the time zone asked for, on both transports, and says which zone', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving, graphql } = await securedApp(redis.prefix, path.join(dir.path, 'data'));
    await using _ = serving;
    // Thursday to Friday in January: the New York week from Monday 12 January, 00:00 EST (05:00Z).
    const range = 'from=2026-01-15T12:00:00Z&to=2026-01-16T00:00:00Z';
    const response = await serving.app.request(`/v1/views/page_views?${range}&granularity=1w&timeZone=america/new_york`, { headers: { 'x-api-key': ADMIN_KEY } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { meta: unknown }).meta).toMatchObject({
      from: '2026-01-12T05:00:00.000Z',
      to: '2026-01-19T05:00:00.000Z',
      granularity: '1w',
      granularityMs: null,
      timeZone: 'America/New_York',
    });
    const days = await graphql('{ pageViews(from: "2026-01-15T12:00:00Z", to: "2026-01-15T20:00:00Z", granularity: "1d", timeZone: "Europe/Berlin") { meta { from to granularity timeZone } } }');
    expect(days.body.errors).toBeUndefined();
    expect(days.body.data).toEqual({ pageViews: { meta: { from: '2026-01-14T23:00:00.000Z', to: '2026-01-15T23:00:00.000Z', granularity: '1d', timeZone: 'Europe/Berlin' } } });
  });

  it('a query slower than serving.limits.requestTimeoutMs fails with TIMEOUT, not a hung request', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving, graphql } = await securedApp(redis.prefix, path.join(dir.path, 'data'), { 'serving.limits.requestTimeoutMs': 100, 'serving.cacheEntries': 0 });
    await using _ = serving;
    // Redis holds every client for 1 s: neither the rate limit nor the query can finish within 100 ms.
    await redis.call('CLIENT', 'PAUSE', '1000', 'ALL');
    const started = Date.now();
    const slow = await graphql(PAGE_QUERY);
    expect(Date.now() - started).toBeLessThan(800);
    expect(slow.status).toBe(504);
    expect(slow.body.errors![0]!.extensions).toMatchObject({ code: 'TIMEOUT' });
    await waitFor(async () => (await redis.ping()) === 'PONG', { timeoutMs: 5_000, what: 'Redis to answer again' });
    const rest = await serving.app.request('/v1/views/page_views', { headers: { 'x-api-key': ADMIN_KEY } });
    expect(rest.status).toBe(200);
  });

  it('limits requests per caller, counted in Redis, with Retry-After', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving } = await securedApp(redis.prefix, path.join(dir.path, 'data'), { 'serving.limits.requestsPerSecond': 3 });
    await using _ = serving;
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const response = await serving.app.request('/v1/views', { headers: { 'x-api-key': MARKETING_KEY } });
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      }
    }
    // One second window: unless the second turned over mid-loop, requests 4 and 5 are refused.
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(1);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Another caller has its own budget.
    expect((await serving.app.request('/v1/views', { headers: { 'x-api-key': ADMIN_KEY } })).status).toBe(200);
  });

  it('counts an anonymous caller by its connection, whatever X-Forwarded-For says, unless serving.trustProxy is on', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const anonymousApp = (trustProxy?: boolean) =>
      testServingApp(
        testConfig({
          'redis.keyPrefix': redis.prefix,
          dataDir: path.join(dir.path, 'data'),
          'serving.development': true,
          'serving.limits.requestsPerSecond': 3,
          ...(trustProxy === undefined ? {} : { 'serving.trustProxy': trustProxy }),
        }),
      );
    const rotating = async (serving: { app: { request(path: string, init?: RequestInit): Response | Promise<Response> } }) => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await serving.app.request('/v1/views', { headers: { 'x-forwarded-for': `198.51.100.${i}` } })).status);
      return statuses;
    };
    {
      // Default: one caller (the connection) however the header rotates; past 3 a second, refused.
      await using serving = await anonymousApp();
      expect((await rotating(serving)).filter((status) => status === 429).length).toBeGreaterThanOrEqual(1);
    }
    {
      // Behind a trusted proxy, each forwarded address is a caller of its own.
      await using serving = await anonymousApp(true);
      expect(await rotating(serving)).toEqual([200, 200, 200, 200, 200, 200]);
    }
  });

  it('serves /healthz, /readyz with per-dependency status, /metrics, and GraphiQL only in development mode', async () => {
    await using redis = testRedis();
    using dir = tempDir();
    const { serving } = await securedApp(redis.prefix, path.join(dir.path, 'data'));
    await using _ = serving;
    expect(await (await serving.app.request('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await serving.app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', dependencies: { redis: { ok: true }, batchStore: { ok: true } } });
    await serving.app.request('/v1/views', { headers: { 'x-api-key': ADMIN_KEY } });
    // Metrics on the serving port: the admin role only (every process serves them on metrics.port).
    expect((await serving.app.request('/metrics')).status).toBe(401);
    const notAdmin = await serving.app.request('/metrics', { headers: { 'x-api-key': MARKETING_KEY } });
    expect(notAdmin.status).toBe(403);
    expect(await notAdmin.text()).toMatch(/metrics\.port/);
    const metrics = await (await serving.app.request('/metrics', { headers: { authorization: `ApiKey ${ADMIN_KEY}` } })).text();
    expect(metrics).toMatch(/^braid_serving_requests_total\{.*route="\/v1\/views".*status="200".*\} 1$/m);
    // A failing dependency's error (paths, hosts) is shown to operators only.
    const broken = await securedApp(redis.prefix, '/proc/braid-no-such-folder/data');
    await using _broken = broken.serving;
    const notReady = await broken.serving.app.request('/readyz');
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready', dependencies: { redis: { ok: true }, kafka: { ok: true }, batchStore: { ok: false } } });
    const detail = (await (await broken.serving.app.request('/readyz', { headers: { 'x-api-key': ADMIN_KEY } })).json()) as { dependencies: { batchStore: { error: string } } };
    expect(detail.dependencies.batchStore.error).toMatch(/braid-no-such-folder/);
    // No GraphiQL outside development mode: a browser asking for HTML is refused.
    const noPage = await serving.app.request('/graphql', { headers: { accept: 'text/html' } });
    expect(noPage.status).toBe(406);
    expect(await noPage.text()).not.toMatch(/graphiql/i);

    const dev = await testServingApp(testConfig({ 'redis.keyPrefix': redis.prefix, dataDir: path.join(dir.path, 'data'), 'serving.development': true }));
    await using __ = dev;
    const page = await dev.app.request('/graphql', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);
    // Development mode: anonymous callers read every view.
    const anonymous = await dev.app.request('/v1/views/user_sessions');
    expect(anonymous.status).toBe(200);
  });
});
