import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { ErrorCode } from '../../shared/errors/index.ts';
import { count, quantiles, topK } from '../../shared/measures/index.ts';
import { defineView, demoViews, field, gt, truncTime, tumbling, viewRegistryOf } from '../../shared/views/index.ts';
import { hashApiKey, startServer, type RunningServer, type ServingApp } from '../../serving/index.ts';
import { loadWorkflows } from '../../workflows/index.ts';
import { tempDir, testConfig, testLogger, testRedis, testServingApp } from '../harness/index.ts';
import { graphQLRequests, restRequests, type FuzzRequest, type HostileInputKeys } from './fixtures/serving-fuzz/hostile-requests.ts';

/**
 * Seeded fuzzing of the serving layer's HTTP surface: thousands of malformed and hostile REST and GraphQL requests,
 * in-process and through `braid serve`'s Node server. Every response must be an answer or an error with a code —
 * never a 500, a stack trace, a server path or a hung request — and the heap must stay bounded.
 *
 * BRAID_FUZZ_SEED picks another sequence (fast-check prints the seed, the path and the shrunk requests of a
 * failure; run again with that seed to replay it); BRAID_FUZZ_RUNS sets the runs (default 250, about 1,800 requests).
 */

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number; got ${JSON.stringify(text)}`);
  return value;
}

const SEED = positiveInteger('BRAID_FUZZ_SEED', 20_260_521);
/** Runs of the REST and GraphQL properties (half as many in development mode and over HTTP); each sends one to four requests at once. */
const RUNS = positiveInteger('BRAID_FUZZ_RUNS', 250);
/** A request without a complete response by then has hung (the server's own deadline is half of it). */
const REQUEST_DEADLINE_MS = 10_000;
const SERVER_TIMEOUT_MS = 5_000;

const FIXTURES = fileURLToPath(new URL('./fixtures/workflows-http', import.meta.url));
const KEYS: HostileInputKeys = {
  admin: 'brd_fuzz-admin-key',
  reader: 'brd_fuzz-reader-key',
  jwtSecret: 'a-fuzz-secret-that-is-at-least-32-characters',
};

/** A view with a dimension of every type, calendar windows and list-valued measures, beside the demo views. */
const typedView = defineView({
  name: 'fuzz_typed',
  source: 'clickstream',
  groupBy: ['device', { name: 'big', expr: gt(field('revenue'), 10) }, { name: 'amount', expr: field('revenue') }, { name: 'hour', expr: truncTime(field('ts'), 'hour') }],
  window: tumbling('1d', { timeZone: 'America/New_York' }),
  measures: { events: count(), top_urls: topK('url', 3), spend: quantiles('revenue') },
});
const views = [...demoViews, typedView];

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));
/** What a body must never show: a stack frame, a source location, the server's folders. */
const LEAKS: ReadonlyArray<readonly [string, RegExp]> = [
  ['a stack frame', /(?:^|\n|\\n)\s*at \S.*(?:\(|\s)\S*:\d+:\d+\)?/],
  ['a source location', /\.(?:ts|js|mjs|cjs):\d+/],
  ['node_modules', /node_modules/],
  ['the server’s working folder', new RegExp(process.cwd().replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))],
  ['a file URL', /file:\/\//],
];

interface Received {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** The whole response (or the first event of a stream), or a failure when it is not there within the deadline. */
async function receive(response: Response): Promise<Received> {
  const contentType = response.headers.get('content-type') ?? '';
  // A subscription's stream stays open: its first event (an SSE `data:` line, a multipart JSON part) is what is judged.
  const firstEvent = contentType.startsWith('text/event-stream') ? /^data:.*\n\n/m : contentType.startsWith('multipart/mixed') ? /\r\n\r\n\{[\s\S]*\r\n---/ : undefined;
  let body = '';
  if (response.body) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      body += decoder.decode(value, { stream: true });
      if (firstEvent?.test(body)) {
        await reader.cancel();
        break;
      }
    }
    body += decoder.decode();
  }
  return { status: response.status, contentType, body };
}

function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no complete response within ${REQUEST_DEADLINE_MS} ms: ${what}`)), REQUEST_DEADLINE_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The body with the request's own text taken out: an error may quote what it refuses. */
function withoutEchoes(body: string, request: FuzzRequest): string {
  let rest = body;
  for (const text of request.echoes) {
    if (text.length < 3) continue;
    for (const form of [text, JSON.stringify(text).slice(1, -1)]) rest = rest.split(form).join('');
  }
  return rest;
}

function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : `<${request.body.length} bytes>`;
  const short = (text: string) => (text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text);
  return `${request.method} ${short(request.path)} headers ${short(JSON.stringify(request.headers))} body ${short(body)}`;
}

/** The errors of a GraphQL response body (JSON, or the data of an event), each of which must carry a code. */
function graphQLErrorCodes(text: string): Array<string | undefined> {
  const parsed = JSON.parse(text) as { errors?: Array<{ extensions?: { code?: unknown } }> } | Array<{ errors?: Array<{ extensions?: { code?: unknown } }> }>;
  const results = Array.isArray(parsed) ? parsed : [parsed];
  return results.flatMap((result) => (result.errors ?? []).map((error) => (typeof error.extensions?.code === 'string' ? error.extensions.code : undefined)));
}

/** The problems of one response; none for an answer or an error as the API promises. */
function problemsOf(request: FuzzRequest, received: Received, options: { development: boolean }): string[] {
  const problems: string[] = [];
  const { status, contentType, body } = received;
  const timedOut = status === 504 && body.includes(ErrorCode.TIMEOUT);
  if (status >= 500 && !timedOut) problems.push(`status ${status}`);
  const assets = status === 200 && request.method === 'GET' && (request.path === '/' || request.path.startsWith('/console/'));
  const graphiql = status === 200 && options.development && contentType.startsWith('text/html');
  if (!assets && !graphiql) {
    const shown = withoutEchoes(body, request);
    for (const [what, pattern] of LEAKS) if (pattern.test(shown)) problems.push(`the body shows ${what}: ${shown.match(pattern)![0]}`);
  }
  const bodiless = request.method === 'HEAD' || status === 204 || (request.method === 'OPTIONS' && status < 300);
  if (bodiless || assets || graphiql) return problems;
  const graphql = request.path === '/graphql' || request.path.startsWith('/graphql?');
  if (graphql) {
    let text = body;
    if (/text\/event-stream/.test(contentType)) {
      const data = body.match(/^data: ?(.*)$/m)?.[1];
      if (data === undefined) return [...problems, `an event stream without data: ${body.slice(0, 300)}`];
      text = data;
    } else if (/multipart\/mixed/.test(contentType)) {
      const part = body.match(/\r?\n\r?\n(\{.*\})/s)?.[1];
      if (part === undefined) return [...problems, `a multipart stream without a JSON part: ${body.slice(0, 300)}`];
      text = part.split(/\r?\n--/)[0]!;
    } else if (!/json/.test(contentType)) {
      return [...problems, `a GraphQL response of type ${JSON.stringify(contentType)}: ${body.slice(0, 300)}`];
    }
    let codes: Array<string | undefined>;
    try {
      codes = graphQLErrorCodes(text);
    } catch {
      return [...problems, `a GraphQL body that is not JSON: ${text.slice(0, 300)}`];
    }
    if (status >= 400 && codes.length === 0) problems.push(`status ${status} without errors`);
    for (const code of codes) {
      if (code === undefined || !ERROR_CODES.has(code)) problems.push(`a GraphQL error without a Braid code (${String(code)}): ${text.slice(0, 400)}`);
      // An internal error is a bug, whatever the status (a stream's errors come with 200).
      else if (code === ErrorCode.INTERNAL) problems.push(`an internal error: ${text.slice(0, 400)}`);
    }
    return problems;
  }
  if (status >= 400) {
    try {
      const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof error?.code !== 'string' || !ERROR_CODES.has(error.code) || typeof error.message !== 'string') problems.push(`an error body without a code and message: ${body.slice(0, 400)}`);
      else if (error.code === ErrorCode.INTERNAL) problems.push(`an internal error: ${body.slice(0, 400)}`);
    } catch {
      problems.push(`an error body that is not JSON (${contentType}): ${body.slice(0, 400)}`);
    }
  }
  return problems;
}

/** Sends requests at once and checks every response. */
async function sendAll(requests: readonly FuzzRequest[], send: (request: FuzzRequest) => Promise<Response>, options: { development: boolean }): Promise<void> {
  const received = await Promise.all(requests.map((request) => withDeadline(send(request).then(receive), describeRequest(request))));
  const failures = requests.flatMap((request, index) => {
    const problems = problemsOf(request, received[index]!, options);
    return problems.length === 0 ? [] : [`${describeRequest(request)}\n  → ${received[index]!.status}: ${problems.join('; ')}`];
  });
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

/** The heap after a full collection, in bytes (V8's gc, exposed for this process if it was not). */
function settledHeapBytes(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('serving under hostile input (seeded fuzz)', () => {
  const scratch = tempDir('braid-fuzz-');
  const redis = testRedis();
  const overrides = {
    'redis.keyPrefix': redis.prefix,
    dataDir: path.join(scratch.path, 'data'),
    'serving.port': 0,
    'workflows.dir': FIXTURES,
    'serving.cors.origins': ['https://dashboards.example.com'],
    'serving.trustProxy': true,
    'serving.auth.apiKeys': [
      { name: 'ops', sha256: hashApiKey(KEYS.admin), roles: ['admin'] },
      { name: 'dashboards', sha256: hashApiKey(KEYS.reader), roles: ['reader'] },
    ],
    'serving.auth.jwtSecret': KEYS.jwtSecret,
    'serving.auth.roles': { admin: ['*'], reader: ['page_views', 'fuzz_typed'] },
    'serving.limits.requestTimeoutMs': SERVER_TIMEOUT_MS,
    // Thousands of requests a second from one address: the limits would refuse most of them before they reach the parsers.
    'serving.limits.requestsPerSecond': 0,
    'serving.limits.failedAuthPerSecond': 0,
    'serving.limits.cellsPerSecond': 0,
    'serving.limits.maxSubscriptionsPerCaller': 1_000,
  };
  let server: RunningServer;
  let development: ServingApp & AsyncDisposable;
  let heapAtStartBytes = 0;
  const fuzzOptions = { seed: SEED, numRuns: RUNS };

  beforeAll(async () => {
    const config = testConfig(overrides);
    const catalog = await loadCatalog(config);
    server = await startServer({ config, views: viewRegistryOf(views), workflows: await loadWorkflows(config, catalog), logger: testLogger });
    development = await testServingApp(testConfig({ ...overrides, 'serving.development': true, 'serving.auth.anonymous': true }), views);
    // What a first request builds once (GraphiQL's page, the schema's compiled queries) is not growth.
    await development.app.request('/graphql', { headers: { accept: 'text/html' } });
    await server.serving.app.request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEYS.admin }, body: JSON.stringify({ query: '{ views { name } }' }) });
    heapAtStartBytes = settledHeapBytes();
  });

  afterAll(async () => {
    await development?.[Symbol.asyncDispose]();
    await server?.close();
    await redis[Symbol.asyncDispose]();
    scratch[Symbol.dispose]();
  });

  const inProcess = (serving: () => ServingApp) => (request: FuzzRequest) =>
    Promise.resolve(serving().app.request(`http://braid.test${request.path}`, { method: request.method, headers: request.headers, ...(request.body === undefined ? {} : { body: request.body as BodyInit }) }));

  const overHttp = (request: FuzzRequest) =>
    fetch(`${server.url}${request.path}`, {
      method: request.method,
      headers: request.headers,
      signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
      ...(request.body === undefined
        ? {}
        : request.chunked
          ? { body: chunks(request.body), duplex: 'half' as const }
          : { body: request.body }),
    } as RequestInit);

  it('REST: random paths, methods, parameters and headers are answered or refused with a code', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(restRequests(KEYS), { minLength: 1, maxLength: 4 }), (requests) => sendAll(requests, inProcess(() => server.serving), { development: false })),
      fuzzOptions,
    );
  });

  it('GraphQL: hostile documents, variables and bodies are answered or refused with a code', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(graphQLRequests(KEYS), { minLength: 1, maxLength: 4 }), (requests) => sendAll(requests, inProcess(() => server.serving), { development: false })),
      fuzzOptions,
    );
  });

  it('GraphQL in development mode (introspection, suggestions, GraphiQL, anonymous callers): the same', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(graphQLRequests(KEYS), { minLength: 1, maxLength: 4 }), (requests) => sendAll(requests, inProcess(() => development), { development: true })),
      { ...fuzzOptions, numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('through braid serve’s HTTP server (/graphql on Node’s request, chunked bodies, REST): the same', async () => {
    const anyRequest = fc.oneof({ arbitrary: graphQLRequests(KEYS, { http: true }), weight: 3 }, { arbitrary: restRequests(KEYS), weight: 1 });
    await fc.assert(
      fc.asyncProperty(fc.array(anyRequest, { minLength: 1, maxLength: 4 }), (requests) => sendAll(requests, overHttp, { development: false })),
      { ...fuzzOptions, numRuns: Math.ceil(RUNS / 2) },
    );
  });

  describe('what fuzzing found', () => {
    const graphql = async (init: { method?: string; path?: string; headers?: Record<string, string>; body?: string }, transport: 'in-process' | 'http' = 'in-process') => {
      const request = { method: init.method ?? 'POST', path: init.path ?? '/graphql', headers: { 'x-api-key': KEYS.admin, ...init.headers }, ...(init.body === undefined ? {} : { body: init.body }), echoes: [] };
      const response = await (transport === 'http' ? overHttp(request) : inProcess(() => server.serving)(request));
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: JSON.parse(text) as { errors?: Array<{ message: string; extensions: Record<string, unknown> }>; error?: Record<string, unknown> } };
    };
    const json = { 'content-type': 'application/json' };

    it('variables that are not JSON in a GET were a 500 (yoga’s unguarded JSON.parse); now BAD_ARGUMENT', async () => {
      const answer = await graphql({ method: 'GET', path: '/graphql?query=%7B__typename%7D&variables=now%201h' });
      expect(answer.status).toBe(400);
      expect(answer.body.errors![0]!.extensions.code).toBe('BAD_ARGUMENT');
    });

    it('a multipart request whose operations are null was a 500; now BAD_ARGUMENT', async () => {
      const body = '--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\nnull\r\n--b\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.a"]}\r\n--b\r\nContent-Disposition: form-data; name="0"; filename="a.txt"\r\n\r\nhi\r\n--b--\r\n';
      const answer = await graphql({ headers: { 'content-type': 'multipart/form-data; boundary=b' }, body });
      expect(answer.status).toBe(400);
      expect(answer.body.errors![0]!.extensions.code).toBe('BAD_ARGUMENT');
    });

    it('a list nested thousands deep overflowed the parser’s stack, a 500; now LIMIT_EXCEEDED', async () => {
      const query = `{ pageViews(where: { url: { in: ${'['.repeat(5_000)}"x"${']'.repeat(5_000)} } }) { rows { url } } }`;
      const answer = await graphql({ headers: json, body: JSON.stringify({ query }) });
      expect(answer.status).toBe(200);
      // Which limit stops it depends on the engine's stack: where the parser's stack overflows first (Node 20) the
      // nesting limit, where it does not (Node 26) the token limit.
      const extensions = answer.body.errors![0]!.extensions;
      expect(extensions.code).toBe('LIMIT_EXCEEDED');
      expect(['nesting', 'maxTokens']).toContain(extensions.limit);
    });

    it('a mutation failed to compile under graphql-jit, a 500; now BAD_ARGUMENT: the schema has none', async () => {
      const answer = await graphql({ headers: json, body: JSON.stringify({ query: 'mutation { views { name } }' }) });
      expect(answer.status).toBe(200);
      expect(answer.body.errors![0]).toMatchObject({ message: expect.stringMatching(/mutation/), extensions: { code: 'BAD_ARGUMENT' } });
    });

    it('syntax, validation and request errors carried graphql-js’s and yoga’s codes (or none); now Braid’s', async () => {
      expect((await graphql({ headers: json, body: '{"query":"{ views "}' })).body.errors![0]!.extensions.code).toBe('BAD_ARGUMENT');
      expect((await graphql({ headers: json, body: '{"query":"{ nosuch }"}' })).body.errors![0]!.extensions.code).toBe('BAD_ARGUMENT');
      expect((await graphql({ headers: json, body: 'null' })).body.errors![0]!.extensions.code).toBe('BAD_ARGUMENT');
      expect((await graphql({ headers: json, body: '{"query":"query A { views { name } }","operationName":"B"}' })).body.errors![0]!.extensions.code).toBe('BAD_ARGUMENT');
    });

    it('an Accept /graphql cannot answer got an empty 406 whose Accept header named its types once per type asked (past 16 KiB, clients refused it); now NOT_ACCEPTABLE', async () => {
      for (const transport of ['in-process', 'http'] as const) {
        const answer = await graphql({ headers: { ...json, accept: `${'a/b,'.repeat(2_000)}c/d` }, body: '{"query":"{ __typename }"}' }, transport);
        expect(answer.status).toBe(406);
        expect(answer.body.errors![0]!.extensions).toMatchObject({ code: 'NOT_ACCEPTABLE', acceptable: expect.arrayContaining(['application/json']) });
        expect(answer.headers.get('accept')).toBeNull();
      }
    });

    it('a body without a Content-Type got an empty 415; now BAD_ARGUMENT naming content-type', async () => {
      const answer = await graphql({ body: '{"query":"{ __typename }"}' });
      expect(answer.status).toBe(415);
      expect(answer.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'content-type' });
    });

    it('PUT /graphql was a REST-shaped 404 in-process and a GraphQL 405 from braid serve; now the 405 on both', async () => {
      for (const transport of ['in-process', 'http'] as const) {
        const answer = await graphql({ method: 'PUT' }, transport);
        expect(answer.status, transport).toBe(405);
        expect(answer.body.errors![0]!.extensions.code, transport).toBe('BAD_ARGUMENT');
      }
    });

    it('requests Node’s parser refuses (headers past 16 KiB, an unknown method) got an empty 431 or 400; now a body with a code', async () => {
      const { port, hostname } = new URL(server.url);
      const raw = async (request: string) => {
        const socket = connect(Number(port), hostname);
        socket.end(request);
        const chunks: Buffer[] = [];
        for await (const chunk of socket) chunks.push(chunk as Buffer);
        const [head = '', body = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
        return { status: Number(head.split(' ')[1]), body: JSON.parse(body) as { error: { code: string }; errors: Array<{ extensions: { code: string } }> } };
      };
      const large = await raw(`GET /v1/views HTTP/1.1\r\nHost: x\r\nX-Padding: ${'x'.repeat(20_000)}\r\n\r\n`);
      expect(large.status).toBe(431);
      expect(large.body.error.code).toBe('LIMIT_EXCEEDED');
      expect(large.body.errors[0]!.extensions.code).toBe('LIMIT_EXCEEDED');
      const unknownMethod = await raw('FOO /graphql HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(unknownMethod.status).toBe(400);
      expect(unknownMethod.body.error.code).toBe('BAD_ARGUMENT');
    });
  });

  it('keeps the heap bounded, and closes every subscription it opened', async () => {
    // The caches fill up to their bounds: 1,024 documents compiled by graphql-jit (about 45 KiB each), the parser's
    // caches, the response cache.
    const grownBytes = settledHeapBytes() - heapAtStartBytes;
    expect(grownBytes, `heap grew by ${Math.round(grownBytes / 1_048_576)} MiB`).toBeLessThan(128 * 1_048_576);
    for (const serving of [server.serving, development]) {
      const metrics = await (await serving.app.request('/metrics', { headers: { 'x-api-key': KEYS.admin } })).text();
      const open = [...metrics.matchAll(/^braid_serving_subscriptions\{[^}]*\} (\d+)$/gm)].map((match) => Number(match[1]));
      expect(open.every((value) => value === 0), `open subscriptions: ${open.join(', ')}`).toBe(true);
    }
  });

  it('a flood of distinct documents near the body limit does not pin a megabyte each in the parser’s caches', async () => {
    const heapBeforeBytes = settledHeapBytes();
    // Each document is new to the caches and nearly as large as a body may be (a comment is one token).
    const padding = 'x'.repeat(1_000_000);
    const flood = async (i: number) => {
      const response = await server.serving.app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEYS.admin },
        body: JSON.stringify({ query: `{ __typename } # ${i} ${padding}` }),
      });
      expect(response.status).toBe(200);
      await response.text();
    };
    for (let i = 0; i < 64; i += 4) await Promise.all([i, i + 1, i + 2, i + 3].map(flood));
    const grownBytes = settledHeapBytes() - heapBeforeBytes;
    expect(grownBytes, `heap grew by ${Math.round(grownBytes / 1_048_576)} MiB`).toBeLessThan(24 * 1_048_576);
  });
});

/** A body sent with Transfer-Encoding: chunked, in pieces. */
function chunks(body: string | Uint8Array): ReadableStream<Uint8Array> {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const size = Math.max(1, Math.ceil(bytes.length / 3));
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}
