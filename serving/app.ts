import { constants, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { Kind, type ExecutionArgs, type GraphQLError, type GraphQLSchema, type OperationDefinitionNode, type ValidationContext } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { Hono, type Context } from 'hono';
import type { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode, toBraidError } from '../shared/errors/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { Registry } from '../shared/metrics/index.ts';
import { granularityText } from '../shared/time/index.ts';
import { describeWindow, type ViewRegistry } from '../shared/views/index.ts';
import { SpeedKeys } from '../shared/speed-contract/index.ts';
import { WorkflowAdmin, type WorkflowCatalog } from '../workflows/index.ts';
import { Authenticator, type Principal } from './auth/authenticator.ts';
import { flatRows } from './answer-rows.ts';
import { ConsoleApi } from './console/console-api.ts';
import { consoleRoutes } from './console/console-routes.ts';
import { answerToArrow, ARROW_STREAM_MEDIA_TYPE } from './export/answer-arrow.ts';
import { answerToCsv, CSV_MEDIA_TYPE } from './export/answer-csv.ts';
import { answerFormatFor } from './export/answer-media-type.ts';
import { freshnessHeaders } from './export/freshness-headers.ts';
import { httpStatusOf, publicError, toGraphQLError } from './errors.ts';
import { clientAddress, httpPolicy } from './http-policy.ts';
import { withTimeout } from './with-timeout.ts';
import { documentCache } from './graphql/document-cache.ts';
import { useBraidErrorCodes } from './graphql/error-codes.ts';
import { asksForSchema, useViewIntrospection } from './graphql/introspection.ts';
import { buildViewSchema, fieldNameOf } from './graphql/schema.ts';
import { CallerRateLimiter } from './rate-limit.ts';
import { ReadLimits } from './read-limits.ts';
import { createServingMetrics } from './serving-metrics.ts';
import { ViewReader, type ViewAnswer } from './view-reader.ts';
import { ViewService, type RequestContext } from './view-service.ts';
import { ViewUpdates } from './view-updates.ts';
import { WORKFLOW_ADMIN_ROLE, workflowRoutes } from './workflow-routes.ts';

export interface ServingAppOptions {
  readonly config: Config;
  readonly views: ViewRegistry;
  /** Commands (reads, rate limits, key lookups). */
  readonly redis: Redis;
  /** A connection of its own for pub/sub (a subscribed connection can run nothing else). */
  readonly subscriber: Redis;
  /** For /readyz; readiness reports Kafka as unchecked without it. */
  readonly kafka?: Kafka;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Served under /v1/workflows (through a {@link WorkflowAdmin} the app opens and closes); without it, that path is no route. */
  readonly workflows?: WorkflowCatalog;
}

/** What `braid serve` hands yoga with each request. */
export interface GraphQLServerContext {
  readonly clientAddress?: string | undefined;
}

export interface ServingApp {
  readonly app: Hono<{ Variables: { principal: Principal } }>;
  readonly service: ViewService;
  readonly yoga: YogaServerInstance<GraphQLServerContext, RequestContext>;
  /** /graphql on Node's own request and response (what `braid serve` uses: no fetch-API Request in between). */
  handleGraphQL(request: IncomingMessage, response: ServerResponse): void;
  close(): Promise<void>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function metaJson(meta: ViewAnswer['meta']): Record<string, unknown> {
  return {
    batchVersion: meta.batchVersion,
    batchCutoff: iso(meta.batchCutoffMs),
    speedWatermark: iso(meta.speedWatermarkMs),
    layers: meta.layers,
    partial: meta.partial,
    missing: meta.missing.map((range) => ({ from: iso(range.fromMs), to: iso(range.toMs) })),
    from: iso(meta.fromMs),
    to: iso(meta.toMs),
    granularity: granularityText(meta.granularity),
    // Calendar buckets vary in length: null.
    granularityMs: meta.granularity.kind === 'fixed' ? meta.granularity.stepMs : null,
    timeZone: meta.timeZone,
    truncated: meta.truncated,
    cached: meta.cached,
  };
}

/** The JSON an answer becomes on the REST path (and in `braid query --format json`). */
export function answerJson(answer: ViewAnswer): Record<string, unknown> {
  return { rows: flatRows(answer), meta: metaJson(answer.meta) };
}

/** Serialised rows of cached answers: a cache hit on the REST path serialises only its metadata. */
const serialisedRows = new WeakMap<ViewAnswer['rows'], string>();

/** The REST body of an answer, as `answerJson` would serialise. */
function answerBody(answer: ViewAnswer): string {
  let rows = serialisedRows.get(answer.rows);
  if (rows === undefined) {
    rows = JSON.stringify(flatRows(answer));
    serialisedRows.set(answer.rows, rows);
  }
  return `{"rows":${rows},"meta":${JSON.stringify(metaJson(answer.meta))}}`;
}

/** A limit error of graphql-armor, given Braid's code (armor's own errors carry none). */
function armorRejection(limit: string) {
  return [
    (_context: ValidationContext | null, error: GraphQLError) => {
      Object.assign(error.extensions as Record<string, unknown>, { code: ErrorCode.LIMIT_EXCEEDED, limit });
    },
  ];
}

/**
 * The serving layer as a hono app: `/graphql` (graphql-yoga, schema generated
 * from the views), `/v1/views[/:view]` (REST), `/v1/workflows/…` (given the
 * workflows), `/healthz`, `/readyz`, `/metrics`.
 * Test it in-process with `app.request()`; serve it with {@link startServer}.
 */
export async function createServingApp(options: ServingAppOptions): Promise<ServingApp> {
  const { config, views, redis, logger, registry } = options;
  const metrics = createServingMetrics(registry);
  const updates = new ViewUpdates(options.subscriber, new SpeedKeys(config.redis.keyPrefix));
  const reader = await ViewReader.open({ config, redis, updates });
  const authenticator = new Authenticator(config, redis);
  const rateLimiter = new CallerRateLimiter(config, redis);
  const readLimits = new ReadLimits(config, redis);
  const service = new ViewService({ config, views, reader, authenticator, updates, metrics, logger, readLimits });
  const { limits } = config.serving;
  const policy = await httpPolicy(config);

  const armor = new EnvelopArmor({
    maxDepth: { n: limits.maxDepth, exposeLimits: true, onReject: armorRejection('maxDepth') },
    costLimit: { maxCost: limits.maxCost, exposeLimits: true, onReject: armorRejection('maxCost') },
    maxAliases: { n: limits.maxAliases, exposeLimits: true, onReject: armorRejection('maxAliases') },
    maxDirectives: { n: 20, exposeLimits: true, onReject: armorRejection('maxDirectives') },
    maxTokens: { n: 2_000, exposeLimits: true, onReject: armorRejection('maxTokens') },
    blockFieldSuggestion: { enabled: !config.serving.development },
  });
  // The whole request (credentials, rate limit, answer) has a deadline; the query's own, equal one fires first
  // and names the view. A subscription's stream outlives it: only producing the response is timed.
  const requestDeadlineMs = limits.requestTimeoutMs + 250;
  /** Who is calling, checked against the rate limit: the one gate of REST and GraphQL alike. */
  const callerOf = async (headers: { get(name: string): string | null | undefined }, connectionAddress: string | undefined): Promise<Principal> => {
    const principal = await authenticator.authenticate({
      authorization: headers.get('authorization') ?? undefined,
      apiKey: headers.get('x-api-key') ?? undefined,
      clientAddress: clientAddress(headers.get('x-forwarded-for'), connectionAddress, config.serving.trustProxy),
    });
    await rateLimiter.consume(principal);
    return principal;
  };

  // The schema a caller's introspection sees: the views it may read, one schema per set of views.
  const readableSchemas = new Map<string, GraphQLSchema>();
  const readableSchema = (context: RequestContext) => {
    const readable = service.readable(context);
    const key = readable.map((view) => view.name).join('\u0000');
    let schema = readableSchemas.get(key);
    if (!schema) {
      schema = buildViewSchema(readable, service);
      readableSchemas.set(key, schema);
    }
    return schema;
  };

  const yoga = createYoga<GraphQLServerContext, RequestContext>({
    schema: buildViewSchema([...views.views.values()], service),
    // Credentials are checked when an operation runs (GraphiQL's page needs none); failures carry their HTTP status.
    context: async ({ request, clientAddress }) => {
      try {
        return { principal: await withTimeout(callerOf(request.headers, clientAddress), requestDeadlineMs) };
      } catch (thrown) {
        throw toGraphQLError(thrown, { httpStatus: true });
      }
    },
    graphqlEndpoint: '/graphql',
    parserAndValidationCache: { documentCache: documentCache(), errorCache: documentCache() },
    // CORS is the app's (serving.cors), on both ways /graphql is served.
    cors: false,
    graphiql: config.serving.development ? { title: 'Braid', defaultQuery: sampleGraphQLQuery(views) } : false,
    // GraphiQL's scripts and styles from its npm package, inlined in the page: nothing is fetched from a CDN.
    renderGraphiQL: graphiQLPage,
    landingPage: false,
    // graphql-jit compiles each distinct query once into a function: dashboards repeat a handful of queries
    // (0.70 → 0.49 ms per cached dashboard query in-process). Subscriptions stay on graphql-js: under
    // graphql-jit their answers came back empty. So do mutations (the schema has none): graphql-jit throws compiling
    // one (a 500), graphql-js answers that there are none.
    plugins: [
      ...armor.protect().plugins,
      useGraphQlJit({}, { enableIf: (args) => operationOf(args) === 'query' && !asksForSchema(args.document, args.operationName) }),
      useViewIntrospection<RequestContext>(config.serving.introspection, readableSchema),
      useBraidErrorCodes(),
    ],
    logging: {
      debug: (...args) => logger.debug(yogaLog(args), 'graphql-yoga'),
      info: (...args) => logger.info(yogaLog(args), 'graphql-yoga'),
      warn: (...args) => logger.warn(yogaLog(args), 'graphql-yoga'),
      error: (...args) => logger.error(yogaLog(args), 'graphql-yoga'),
    },
  });

  const app = new Hono<{ Variables: { principal: Principal } }>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath === '/*' ? 'other' : c.req.routePath;
    metrics.requests.inc({ route, status: String(c.res.status) });
    metrics.requestSeconds.observe({ route }, (performance.now() - started) / 1000);
  });

  for (const middleware of policy.middleware) app.use('*', middleware);

  app.onError((thrown, c) => {
    const error = toBraidError(thrown);
    if (error.code === ErrorCode.INTERNAL) logger.error({ err: error.cause ?? error, path: c.req.path }, 'request failed');
    const body = publicError(error);
    if (error.code === ErrorCode.RATE_LIMITED && typeof error.fields.retryAfterMs === 'number') c.header('Retry-After', String(Math.ceil(error.fields.retryAfterMs / 1000)));
    // A body refused unread: the connection closes rather than read the rest of it.
    if (error.code === ErrorCode.PAYLOAD_TOO_LARGE) c.header('Connection', 'close');
    const status = httpStatusOf(error.code) as 400;
    if (c.req.path === '/graphql') {
      const { message, ...extensions } = body;
      return c.json({ errors: [{ message, extensions }] }, status);
    }
    return c.json({ error: body }, status);
  });

  const paths = ['/', '/graphql', '/v1/views', ...(options.workflows ? ['/v1/workflows'] : []), '/healthz', '/readyz', '/metrics'];
  app.notFound((c) => c.json({ error: { code: ErrorCode.NOT_FOUND, message: `no route ${c.req.method} ${c.req.path}; try ${paths.join(', ')}` } }, 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  /**
   * Whether the caller may see the server's insides (metrics, a dependency's error): anyone in development mode,
   * else the admin role. A caller without credentials where anonymous access is off is refused (401).
   */
  const isOperator = async (c: Context) => {
    if (config.serving.development) return true;
    const principal = await callerOf({ get: (name) => c.req.header(name) }, clientAddressOf(c));
    return principal.kind !== 'anonymous' && principal.roles.includes(WORKFLOW_ADMIN_ROLE);
  };

  app.get('/readyz', async (c) => {
    const check = async (name: string, run: () => Promise<unknown>) => {
      try {
        await withTimeout(run(), 2_000);
        return { ok: true };
      } catch (thrown) {
        logger.warn({ dependency: name, error: (thrown as Error).message }, 'readiness check failed');
        return { ok: false, error: (thrown as Error).message };
      }
    };
    const [redisStatus, kafkaStatus, batchStatus] = await Promise.all([
      check('redis', () => redis.ping()),
      options.kafka ? check('kafka', () => kafkaMetadata(options.kafka!)) : Promise.resolve({ ok: true, note: 'not checked (no Kafka client)' }),
      check('batchStore', async () => {
        // Before the first archive the folder may not exist yet; its parent must, so it can be made.
        await access(existsSync(config.dataDir) ? config.dataDir : path.dirname(path.resolve(config.dataDir)), constants.R_OK | constants.W_OK);
      }),
    ]);
    const ready = redisStatus.ok && kafkaStatus.ok && batchStatus.ok;
    // A dependency's error names hosts and addresses: operators only (it is in the log for everyone else).
    const detailed = ready || (await isOperator(c).catch(() => false));
    const shown = (status: { ok: boolean; error?: string; note?: string }) => (detailed ? status : { ok: status.ok });
    return c.json({ status: ready ? 'ready' : 'not ready', dependencies: { redis: shown(redisStatus), kafka: shown(kafkaStatus), batchStore: shown(batchStatus) } }, ready ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    if (!(await isOperator(c))) {
      throw new BraidError(ErrorCode.FORBIDDEN, `the server's metrics on this port need the ${WORKFLOW_ADMIN_ROLE} role`, {
        fields: { role: WORKFLOW_ADMIN_ROLE },
        hint: 'scrape metrics.port (every Braid process serves /metrics there), or send an API key or JWT of the admin role',
      });
    }
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });

  const authenticate = (c: Context<{ Variables: { principal: Principal } }>, next: () => Promise<void>) =>
    withTimeout(
      (async () => {
        c.set('principal', await callerOf({ get: (name) => c.req.header(name) }, clientAddressOf(c)));
        await next();
      })(),
      requestDeadlineMs,
    );

  // In-process requests (`app.request()`); `braid serve` hands /graphql to yoga on Node's request directly.
  // Every method, as `braid serve` hands them to yoga (which answers 405 to any but GET and POST).
  app.all('/graphql', (c) => yoga.fetch(c.req.raw, { clientAddress: clientAddressOf(c) }));

  app.route('/', consoleRoutes());

  app.use('/v1/*', authenticate);

  const consoleApi = new ConsoleApi({ config, service, reader, redis, ...(options.kafka ? { kafka: options.kafka } : {}) });
  app.route('/v1', consoleApi.routes());

  app.get('/v1/views', (c) =>
    c.json({
      views: service.readable({ principal: c.get('principal') }).map((view) => ({
        name: view.name,
        description: view.description,
        window: describeWindow(view.window),
        dimensions: view.dimensions.map((d) => ({ name: d.name, type: d.type })),
        measures: view.measures.map((m) => ({ name: m.name, measure: m.measure.describe() })),
        rest: `/v1/views/${view.name}`,
        graphql: fieldNameOf(view.name),
      })),
    }),
  );

  const RESERVED_PARAMETERS = new Set(['from', 'to', 'granularity', 'timeZone', 'limit', 'orderBy', 'layer']);
  app.get('/v1/views/:view', async (c) => {
    const view = service.view(c.req.param('view'), { principal: c.get('principal') });
    const format = answerFormatFor(c.req.header('accept'));
    const where: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (!RESERVED_PARAMETERS.has(name)) where[name] = values.flatMap((value) => value.split(','));
    }
    const answer = await service.answer(
      view,
      {
        from: c.req.query('from'),
        to: c.req.query('to'),
        granularity: c.req.query('granularity'),
        timeZone: c.req.query('timeZone'),
        limit: c.req.query('limit'),
        orderBy: c.req.query('orderBy'),
        layer: c.req.query('layer'),
        where,
      },
      { principal: c.get('principal') },
    );
    const headers = { ...freshnessHeaders(answer.meta), vary: 'Accept' };
    switch (format) {
      case 'json':
        return c.body(answerBody(answer), 200, { ...headers, 'content-type': 'application/json' });
      case 'arrow':
        return c.body(answerToArrow(view, answer), 200, { ...headers, 'content-type': ARROW_STREAM_MEDIA_TYPE });
      case 'csv':
        return c.body(answerToCsv(view, answer), 200, { ...headers, 'content-type': `${CSV_MEDIA_TYPE}; charset=utf-8` });
      default:
        throw new Error(`unknown answer format: ${String(format satisfies never)}`);
    }
  });

  const workflowAdmin = options.workflows ? WorkflowAdmin.open(config, options.workflows) : undefined;
  if (workflowAdmin) app.route('/v1/workflows', workflowRoutes(workflowAdmin));

  // yoga is itself a Node request listener; its third argument is the server context.
  const yogaListener = yoga as unknown as (req: IncomingMessage, res: ServerResponse, context: GraphQLServerContext) => Promise<void>;
  const handleGraphQL = (request: IncomingMessage, response: ServerResponse) => {
    const started = performance.now();
    response.once('finish', () => {
      metrics.requests.inc({ route: '/graphql', status: String(response.statusCode) });
      metrics.requestSeconds.observe({ route: '/graphql' }, (performance.now() - started) / 1000);
    });
    for (const [name, value] of policy.headersFor(request.headers.origin)) response.setHeader(name, value);
    policy.checkBody(request).then(
      (body) => {
        // A body read here (chunked) is handed to yoga as read: yoga takes a request's `body` as already parsed.
        if (body !== undefined && body.length > 0) (request as IncomingMessage & { body?: Buffer }).body = body;
        void yogaListener(request, response, { clientAddress: request.socket.remoteAddress });
      },
      (thrown: unknown) => policy.refuseGraphQL(response, toBraidError(thrown)),
    );
  };

  return {
    app,
    service,
    yoga,
    handleGraphQL,
    async close() {
      await reader.close();
      await consoleApi.close();
      await yoga.dispose();
      await workflowAdmin?.close();
    },
  };
}

/** GraphiQL's page for the given options, made once per options (the page inlines about 9 MB of script). */
const graphiQLPages = new Map<string, string>();
function graphiQLPage(options?: Parameters<typeof renderGraphiQL>[0]): string {
  const key = JSON.stringify(options ?? {});
  let page = graphiQLPages.get(key);
  if (page === undefined) {
    page = renderGraphiQL(options);
    graphiQLPages.set(key, page);
  }
  return page;
}

/** The kind of the operation a request executes. */
function operationOf(args: ExecutionArgs): string | undefined {
  const operation = args.document.definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION && (!args.operationName || definition.name?.value === args.operationName),
  );
  return operation?.operation;
}

/** yoga's log arguments as pino fields: errors under `err` (pino serialises those), the rest as text. */
function yogaLog(args: unknown[]): Record<string, unknown> {
  const err = args.find((arg) => arg instanceof Error);
  const rest = args.filter((arg) => !(arg instanceof Error)).map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg)));
  return { ...(err ? { err } : {}), ...(rest.length > 0 ? { detail: rest.join(' ') } : {}) };
}

function clientAddressOf(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'local';
}

async function kafkaMetadata(kafka: Kafka): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.describeCluster();
  } finally {
    await admin.disconnect();
  }
}


/** A query a newcomer can run as it is: the first view, last 3 hours, with freshness. */
export function sampleGraphQLQuery(views: ViewRegistry, fromText = 'now-3h'): string {
  const view = views.views.get('page_views') ?? [...views.views.values()][0];
  if (!view) return '{ views { name } }';
  const fields = ['windowStart', 'windowEnd', ...view.dimensions.map((d) => d.name), ...view.measures.filter((m) => m.measure.output.type !== 'entries').map((m) => m.name)];
  return [
    `{`,
    `  ${fieldNameOf(view.name)}(from: "${fromText}", orderBy: { field: windowStart, direction: DESC }, limit: 20) {`,
    `    rows { ${fields.join(' ')} }`,
    `    meta { batchVersion batchCutoff speedWatermark layers partial }`,
    `  }`,
    `}`,
  ].join('\n');
}
