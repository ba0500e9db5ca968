import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createServingApp, type ServingApp } from '../../serving/app.ts';
import { hashApiKey } from '../../serving/index.ts';
import { clientAddress } from '../../serving/http-policy.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews, viewRegistryOf } from '../../shared/views/index.ts';

/**
 * The serving app's HTTP surface without Redis: every request here is answered (or refused) before a read, with
 * the rate limit and the cell budget off. Redis's use fails the test.
 */
const noRedis = new Proxy(
  {},
  {
    get: (_target, property) => {
      if (property === 'on') return () => undefined;
      if (property === 'then') return undefined;
      return () => {
        throw new Error(`Redis used: ${String(property)}`);
      };
    },
  },
) as Redis;

async function servingApp(overrides: Record<string, unknown> = {}): Promise<ServingApp & AsyncDisposable> {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'braid-serving-http-'));
  const config = loadConfig({
    env: {},
    cwd,
    overrides: { 'serving.development': true, 'serving.limits.requestsPerSecond': 0, 'serving.limits.cellsPerSecond': 0, ...overrides },
  });
  const serving = await createServingApp({
    config,
    views: viewRegistryOf([...demoViews]),
    redis: noRedis,
    subscriber: noRedis,
    registry: createMetricsRegistry('test-serving-http'),
    logger: createLogger({ level: 'silent', name: 'test' }),
  });
  return { ...serving, [Symbol.asyncDispose]: () => serving.close() };
}

const post = (query: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ query }),
});

type GraphQLBody = { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

/** `/graphql` as `braid serve` answers it: yoga on Node's own request and response. */
async function nodeGraphQL(serving: ServingApp): Promise<AsyncDisposable & { send(options: { method?: string; headers?: Record<string, string>; chunks: string[]; chunked?: boolean }): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> }> {
  const server = createServer((request, response) => serving.handleGraphQL(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    send: ({ method = 'POST', headers = {}, chunks, chunked = false }) =>
      new Promise((resolve, reject) => {
        const length = chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk), 0);
        const request = httpRequest({ host: '127.0.0.1', port, method, path: '/graphql', headers: { 'content-type': 'application/json', ...headers, ...(chunked ? {} : { 'content-length': String(length) }) } }, (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
        });
        request.on('error', reject);
        void (async () => {
          for (const chunk of chunks) {
            if (request.destroyed) return;
            if (!request.write(chunk)) await new Promise((drained) => request.once('drain', drained));
          }
          request.end();
        })();
      }),
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('clientAddress', () => {
  it('is the connection’s address by default, whatever X-Forwarded-For says', () => {
    expect(clientAddress('203.0.113.7', '10.0.0.1', false)).toBe('10.0.0.1');
    expect(clientAddress('203.0.113.8, 10.0.0.9', '10.0.0.1', false)).toBe('10.0.0.1');
    expect(clientAddress(undefined, '10.0.0.1', false)).toBe('10.0.0.1');
  });

  it('is the first X-Forwarded-For address behind a trusted proxy, else the connection’s', () => {
    expect(clientAddress(' 203.0.113.7 , 10.0.0.9', '10.0.0.1', true)).toBe('203.0.113.7');
    expect(clientAddress('', '10.0.0.1', true)).toBe('10.0.0.1');
    expect(clientAddress(null, '10.0.0.1', true)).toBe('10.0.0.1');
  });
});

describe('serving app: times out of range', () => {
  it.each([
    ['from', 'from=99999999999999999999'],
    ['to', 'to=8640000000000001'],
    ['from', 'from=now-99999999999d'],
    ['granularity', 'granularity=99999999999d'],
  ])('REST: %s out of range is a 400 BAD_ARGUMENT naming it (%s)', async (argument, parameters) => {
    await using serving = await servingApp();
    const response = await serving.app.request(`/v1/views/page_views?${parameters}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: unknown }).error).toMatchObject({ code: 'BAD_ARGUMENT', argument, view: 'page_views' });
  });

  it.each([
    ['from', '{ pageViews(from: "99999999999999999999") { rows { url } } }'],
    ['from', '{ pageViews(from: 99999999999999999999) { rows { url } } }'],
    ['to', '{ pageViews(to: "8640000000000001") { rows { url } } }'],
    ['granularity', '{ pageViews(granularity: "99999999999d") { rows { url } } }'],
  ])('GraphQL: %s out of range is a BAD_ARGUMENT naming it', async (argument, query) => {
    await using serving = await servingApp();
    const response = await serving.app.request('/graphql', post(query));
    const body = (await response.json()) as GraphQLBody;
    expect(body.errors, query).toHaveLength(1);
    expect(body.errors![0]!.extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument });
  });
});

describe('serving app: request bodies', () => {
  const limits = { 'serving.limits.maxBodyBytes': 2_000 };
  const bigQuery = `{ views { name } } # ${'x'.repeat(3_000)}`;

  it('refuses a /graphql body past maxBodyBytes with 413 PAYLOAD_TOO_LARGE, and answers one within it', async () => {
    await using serving = await servingApp(limits);
    const refused = await serving.app.request('/graphql', post(bigQuery));
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as GraphQLBody).errors![0]!.extensions).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', limit: 'maxBodyBytes', maxBytes: 2_000 });
    const answered = await serving.app.request('/graphql', post('{ views { name } }'));
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as GraphQLBody).data).toMatchObject({ views: expect.arrayContaining([{ name: 'page_views' }]) });
  });

  it('refuses a REST body past maxBodyBytes with 413 before reading views or credentials', async () => {
    await using serving = await servingApp({ ...limits, 'serving.development': false });
    const refused = await serving.app.request('/v1/views', { method: 'POST', body: 'x'.repeat(3_000) });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: unknown }).error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', limit: 'maxBodyBytes' });
  });

  it('refuses on Node’s own request too: by Content-Length before reading, and a chunked body once it passes the limit', async () => {
    await using serving = await servingApp(limits);
    await using node = await nodeGraphQL(serving);
    const declared = await node.send({ chunks: [JSON.stringify({ query: bigQuery })] });
    expect(declared.status).toBe(413);
    expect(declared.headers.connection).toBe('close');
    expect((JSON.parse(declared.body) as GraphQLBody).errors![0]!.extensions).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', maxBytes: 2_000 });
    // 10 MB sent in chunks: refused once 2,000 bytes have come.
    const chunked = await node.send({ chunks: Array.from({ length: 10_000 }, () => ' '.repeat(1_000)), chunked: true });
    expect(chunked.status).toBe(413);
    expect((JSON.parse(chunked.body) as GraphQLBody).errors![0]!.extensions).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    // Within the limit, chunked or not, yoga answers.
    const query = JSON.stringify({ query: '{ views { name } }' });
    for (const answered of [await node.send({ chunks: [query] }), await node.send({ chunks: [query.slice(0, 7), query.slice(7)], chunked: true })]) {
      expect(answered.status, answered.body).toBe(200);
      expect((JSON.parse(answered.body) as GraphQLBody).data).toMatchObject({ views: expect.arrayContaining([{ name: 'page_views' }]) });
    }
  });
});

describe('serving app: response headers', () => {
  const secure = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer', 'cross-origin-opener-policy': 'same-origin' };
  const headersOf = (response: Response) => Object.fromEntries(response.headers.entries());

  it('gives every response secure headers and, by default, no CORS headers whatever the origin', async () => {
    await using serving = await servingApp();
    const origin = { origin: 'https://evil.example' };
    for (const response of [
      await serving.app.request('/healthz', { headers: origin }),
      await serving.app.request('/v1/views', { headers: origin }),
      await serving.app.request('/v1/views/nosuch', { headers: origin }),
      await serving.app.request('/graphql', post('{ views { name } }', origin)),
    ]) {
      expect(headersOf(response)).toMatchObject(secure);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    }
    await using node = await nodeGraphQL(serving);
    const answered = await node.send({ headers: origin, chunks: [JSON.stringify({ query: '{ views { name } }' })] });
    expect(answered.status).toBe(200);
    expect(answered.headers).toMatchObject(secure);
    expect(answered.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('keeps GraphiQL’s page loadable in development mode: no content security policy', async () => {
    await using serving = await servingApp();
    const page = await serving.app.request('/graphql', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);
    expect(headersOf(page)).toMatchObject(secure);
    expect(page.headers.get('content-security-policy')).toBeNull();
  });

  it('allows the configured origins, with credentials, on REST and on both /graphql paths; no other', async () => {
    await using serving = await servingApp({ 'serving.cors.origins': ['https://dashboards.example'] });
    const allowed = { origin: 'https://dashboards.example' };
    for (const response of [await serving.app.request('/v1/views', { headers: allowed }), await serving.app.request('/graphql', post('{ views { name } }', allowed))]) {
      expect(headersOf(response)).toMatchObject({ ...secure, 'access-control-allow-origin': 'https://dashboards.example', 'access-control-allow-credentials': 'true' });
      expect(response.headers.get('vary')).toMatch(/Origin/);
    }
    const other = await serving.app.request('/v1/views', { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await serving.app.request('/graphql', { method: 'OPTIONS', headers: { ...allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(204);
    expect(headersOf(preflight)).toMatchObject({ 'access-control-allow-origin': 'https://dashboards.example', 'access-control-allow-headers': 'content-type' });

    await using node = await nodeGraphQL(serving);
    const query = JSON.stringify({ query: '{ views { name } }' });
    const fromAllowed = await node.send({ headers: allowed, chunks: [query] });
    expect(fromAllowed.headers).toMatchObject({ ...secure, 'access-control-allow-origin': 'https://dashboards.example', 'access-control-allow-credentials': 'true' });
    const fromOther = await node.send({ headers: { origin: 'https://evil.example' }, chunks: [query] });
    expect(fromOther.status).toBe(200);
    expect(fromOther.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('with origins ["*"], allows any origin without credentials', async () => {
    await using serving = await servingApp({ 'serving.cors.origins': ['*'] });
    const response = await serving.app.request('/v1/views', { headers: { origin: 'https://anywhere.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    await using node = await nodeGraphQL(serving);
    const answered = await node.send({ headers: { origin: 'https://anywhere.example' }, chunks: [JSON.stringify({ query: '{ views { name } }' })] });
    expect(answered.headers['access-control-allow-origin']).toBe('*');
    expect(answered.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('serving app: unknown views', () => {
  it('names only the views the caller may read, and echoes no more than 100 characters of the name it was given', async () => {
    const key = 'brd_marketing-key';
    await using serving = await servingApp({
      'serving.development': false,
      'serving.auth.apiKeys': [{ name: 'marketing', sha256: hashApiKey(key), roles: ['marketing'] }],
      'serving.auth.roles': { marketing: ['page_views'] },
    });
    const response = await serving.app.request(`/v1/views/${'x'.repeat(5_000)}`, { headers: { 'x-api-key': key } });
    expect(response.status).toBe(404);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('views you may read: page_views');
    expect(error.message).not.toContain('country_minutes');
    expect(error.message.length).toBeLessThan(300);
  });
});
