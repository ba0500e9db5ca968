import {
  graphql,
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLObjectType,
  Kind,
  parse,
  parseValue as parseGraphQLValue,
  subscribe,
  validateSchema,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DateTimeScalar, LongScalar } from '../../serving/graphql/scalars.ts';
import { buildViewSchema, fieldNameOf, typeNameOf, type ViewResolvers } from '../../serving/graphql/schema.ts';
import type { ViewAnswer } from '../../serving/view-reader.ts';
import { parseViewQuery, type ViewQueryInput } from '../../serving/view-query.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { count } from '../../shared/measures/index.ts';
import { countryMinutes, defineView, demoViews, pageViews, tumbling, userSessions, type View } from '../../shared/views/index.ts';
import { probeChecks } from './fixtures/probe-checks.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const T0 = Date.parse('2026-01-01T10:00:00Z');


interface Context {
  readonly caller: string;
}

interface Call {
  readonly view: string;
  readonly input: ViewQueryInput;
  readonly context: Context;
}

const META: ViewAnswer['meta'] = {
  batchVersion: 7,
  batchCutoffMs: T0,
  speedWatermarkMs: T0 + 30 * MINUTE_MS,
  layers: ['batch', 'speed'],
  partial: true,
  missing: [{ fromMs: T0 + 10 * MINUTE_MS, toMs: T0 + 20 * MINUTE_MS }],
  fromMs: T0,
  toMs: T0 + HOUR_MS,
  granularity: { kind: 'fixed', stepMs: MINUTE_MS },
  timeZone: 'UTC',
  truncated: false,
  cached: true,
};

const PAGE_ANSWER: ViewAnswer = {
  rows: [
    { windowStart: T0, windowEnd: T0 + MINUTE_MS, dimensions: { url: '/a' }, measures: { views: 2 ** 40, visitors: 3, revenue: 12.5 } },
    { windowStart: T0 + MINUTE_MS, windowEnd: T0 + 2 * MINUTE_MS, dimensions: { url: null }, measures: { views: 1, visitors: 1, revenue: null } },
  ],
  meta: META,
};

const DEPLOYED_AT_MS = Date.parse('2026-01-01T09:00:00Z');
const PROBE_ANSWER: ViewAnswer = {
  rows: [
    {
      windowStart: T0,
      windowEnd: T0 + MINUTE_MS,
      dimensions: { port: 443, secure: true, deployed_at: DEPLOYED_AT_MS },
      measures: { checks: 4, total_latency: 10, mean_latency: 2.5, top_hosts: [{ value: 'a.example', count: 3 }, { value: 'b.example', count: 1 }] },
    },
  ],
  meta: { ...META, batchVersion: null, batchCutoffMs: null, speedWatermarkMs: null, layers: ['speed'], partial: false, missing: [] },
};

/** Resolvers with no I/O: they record what they were asked and answer fixed rows. */
function fakeResolvers(answers: Record<string, ViewAnswer | Error> = {}) {
  const calls: Call[] = [];
  const answerFor = (view: View): ViewAnswer => {
    const answer = answers[view.name] ?? (view.name === probeChecks.name ? PROBE_ANSWER : PAGE_ANSWER);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const resolvers: ViewResolvers<Context> = {
    answer: async (view, input, context) => {
      calls.push({ view: view.name, input, context });
      return answerFor(view);
    },
    watch: (view, input, context) => {
      calls.push({ view: view.name, input, context });
      const answer = answerFor(view);
      return (async function* () {
        yield answer;
        yield { ...answer, meta: { ...answer.meta, cached: false } };
      })();
    },
    readable: () => [pageViews, userSessions],
  };
  return { calls, resolvers };
}

const CONTEXT: Context = { caller: 'test' };

async function run(schema: GraphQLSchema, source: string, variableValues?: Record<string, unknown>): Promise<ExecutionResult> {
  return graphql({ schema, source, contextValue: CONTEXT, ...(variableValues ? { variableValues } : {}) });
}

/** The first answer of a subscription. */
async function firstUpdate(schema: GraphQLSchema, source: string): Promise<ExecutionResult> {
  const stream = await subscribe({ schema, document: parse(source), contextValue: CONTEXT });
  if (!(Symbol.asyncIterator in stream)) return stream;
  const first = await stream.next();
  await stream.return?.();
  return first.value as ExecutionResult;
}

function fieldTypes(schema: GraphQLSchema, typeName: string): Record<string, string> {
  const type = schema.getType(typeName);
  if (!(type instanceof GraphQLObjectType || type instanceof GraphQLInputObjectType)) throw new Error(`${typeName} is not an object type`);
  return Object.fromEntries(Object.values(type.getFields()).map((field) => [field.name, String(field.type)]));
}

describe('fieldNameOf and typeNameOf', () => {
  it('turn snake_case view names into the query field and the type prefix', () => {
    expect(fieldNameOf('page_views')).toBe('pageViews');
    expect(fieldNameOf('country_minutes')).toBe('countryMinutes');
    expect(fieldNameOf('user_sessions')).toBe('userSessions');
    expect(fieldNameOf('views')).toBe('views');
    expect(fieldNameOf('top_10_urls')).toBe('top10Urls');
    expect(typeNameOf('page_views')).toBe('PageViews');
    expect(typeNameOf('views')).toBe('Views');
    expect(typeNameOf('probe_checks')).toBe('ProbeChecks');
  });
});

describe('buildViewSchema', () => {
  const schema = buildViewSchema<Context>([...demoViews, probeChecks], fakeResolvers().resolvers);

  it('is a valid schema', () => {
    expect(validateSchema(schema)).toEqual([]);
  });

  it('has one query field and one subscription field per view, plus views', () => {
    expect(Object.keys(schema.getQueryType()!.getFields()).sort()).toEqual(['countryMinutes', 'pageViews', 'probeChecks', 'userSessions', 'views']);
    expect(Object.keys(schema.getSubscriptionType()!.getFields()).sort()).toEqual([
      'countryMinutesUpdated',
      'pageViewsUpdated',
      'probeChecksUpdated',
      'userSessionsUpdated',
    ]);
    expect(String(schema.getQueryType()!.getFields().pageViews!.type)).toBe('PageViewsResult!');
    expect(String(schema.getSubscriptionType()!.getFields().pageViewsUpdated!.type)).toBe('PageViewsResult!');
  });

  it('types the rows: window bounds DateTime!, counts and distinct counts Long!, sums Float, dimensions by their type', () => {
    expect(fieldTypes(schema, 'PageViewsRow')).toEqual({
      windowStart: 'DateTime!',
      windowEnd: 'DateTime!',
      url: 'String',
      views: 'Long!',
      visitors: 'Long!',
      revenue: 'Float',
    });
    expect(fieldTypes(schema, 'ProbeChecksRow')).toEqual({
      windowStart: 'DateTime!',
      windowEnd: 'DateTime!',
      port: 'Float',
      secure: 'Boolean',
      deployed_at: 'DateTime',
      checks: 'Long!',
      total_latency: 'Float',
      mean_latency: 'Float',
      top_hosts: '[TopKEntry!]!',
    });
    expect(fieldTypes(schema, 'PageViewsResult')).toEqual({ rows: '[PageViewsRow!]!', meta: 'Freshness!' });
  });

  it('types the where input per dimension', () => {
    expect(fieldTypes(schema, 'PageViewsWhere')).toEqual({ url: 'StringFilter' });
    expect(fieldTypes(schema, 'CountryMinutesWhere')).toEqual({ country: 'StringFilter' });
    expect(fieldTypes(schema, 'ProbeChecksWhere')).toEqual({ port: 'FloatFilter', secure: 'BooleanFilter', deployed_at: 'DateTimeFilter' });
    expect(fieldTypes(schema, 'StringFilter')).toEqual({ eq: 'String', in: '[String]' });
    expect(fieldTypes(schema, 'DateTimeFilter')).toEqual({ eq: 'DateTime', in: '[DateTime]' });
  });

  it('offers windowStart and every measure but topK as order fields', () => {
    const orderField = (name: string) => (schema.getType(name) as GraphQLEnumType).getValues().map((value) => value.name);
    expect(orderField('PageViewsOrderField')).toEqual(['windowStart', 'views', 'visitors', 'revenue']);
    expect(orderField('UserSessionsOrderField')).toEqual(['windowStart', 'events', 'revenue']);
    expect(orderField('ProbeChecksOrderField')).toEqual(['windowStart', 'checks', 'total_latency', 'mean_latency']);
    expect(fieldTypes(schema, 'PageViewsOrderBy')).toEqual({ field: 'PageViewsOrderField!', direction: 'OrderDirection' });
  });

  it('gives the query field from, to, granularity, timeZone, where, orderBy, limit and layer; the subscription last instead of layer', () => {
    const args = (field: { args: ReadonlyArray<{ name: string; type: unknown }> }) => Object.fromEntries(field.args.map((arg) => [arg.name, String(arg.type)]));
    expect(args(schema.getQueryType()!.getFields().pageViews!)).toEqual({
      from: 'DateTime',
      to: 'DateTime',
      granularity: 'String',
      timeZone: 'String',
      where: 'PageViewsWhere',
      orderBy: 'PageViewsOrderBy',
      limit: 'Int',
      layer: 'Layer',
    });
    expect(args(schema.getSubscriptionType()!.getFields().pageViewsUpdated!)).toEqual({
      last: 'String',
      from: 'DateTime',
      to: 'DateTime',
      granularity: 'String',
      timeZone: 'String',
      where: 'PageViewsWhere',
      orderBy: 'PageViewsOrderBy',
      limit: 'Int',
    });
  });

  it('says in the granularity argument whether a view rolls up', () => {
    const granularityDescription = (field: string) => schema.getQueryType()!.getFields()[field]!.args.find((arg) => arg.name === 'granularity')!.description;
    expect(granularityDescription('pageViews')).toMatch(/multiple of them.*calendar unit of timeZone \(1d, 1w = ISO week, 1mo, 1q, 1y\)/);
    expect(granularityDescription('countryMinutes')).toMatch(/Only the view's own windows \(sliding 5m every 1m\)/);
    expect(granularityDescription('userSessions')).toMatch(/session gap 30m/);
    const days = defineView({ name: 'ny_days', source: 'clickstream', window: tumbling('1d', { timeZone: 'America/New_York' }), measures: { views: count() } });
    const zoned = buildViewSchema<Context>([days], fakeResolvers().resolvers).getQueryType()!.getFields().nyDays!.args;
    expect(zoned.find((arg) => arg.name === 'granularity')!.description).toMatch(/own windows \(tumbling 1d in America\/New_York, the default\) or a coarser calendar unit/);
    expect(zoned.find((arg) => arg.name === 'timeZone')!.description).toMatch(/Default: the view's own, America\/New_York/);
  });

  it('leaves out where for a view without dimensions, and the subscription type when there are no views', () => {
    const total = defineView({ name: 'total_views', source: 'clickstream', window: tumbling('1m'), measures: { views: count() } });
    const bare = buildViewSchema<Context>([total], fakeResolvers().resolvers);
    expect(validateSchema(bare)).toEqual([]);
    expect(bare.getQueryType()!.getFields().totalViews!.args.map((arg) => arg.name)).not.toContain('where');
    expect(bare.getType('TotalViewsWhere')).toBeUndefined();
    const empty = buildViewSchema<Context>([], fakeResolvers().resolvers);
    expect(validateSchema(empty)).toEqual([]);
    expect(empty.getSubscriptionType()).toBeUndefined();
    expect(Object.keys(empty.getQueryType()!.getFields())).toEqual(['views']);
  });
});

describe('executing view queries', () => {
  it('flattens rows and serialises times as ISO-8601', async () => {
    const { resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    const result = await run(
      schema,
      `{ pageViews { rows { windowStart windowEnd url views visitors revenue }
         meta { batchVersion batchCutoff speedWatermark layers partial missing { from to } from to granularity truncated cached } } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      pageViews: {
        rows: [
          { windowStart: '2026-01-01T10:00:00.000Z', windowEnd: '2026-01-01T10:01:00.000Z', url: '/a', views: 2 ** 40, visitors: 3, revenue: 12.5 },
          { windowStart: '2026-01-01T10:01:00.000Z', windowEnd: '2026-01-01T10:02:00.000Z', url: null, views: 1, visitors: 1, revenue: null },
        ],
        meta: {
          batchVersion: 7,
          batchCutoff: '2026-01-01T10:00:00.000Z',
          speedWatermark: '2026-01-01T10:30:00.000Z',
          layers: ['BATCH', 'SPEED'],
          partial: true,
          missing: [{ from: '2026-01-01T10:10:00.000Z', to: '2026-01-01T10:20:00.000Z' }],
          from: '2026-01-01T10:00:00.000Z',
          to: '2026-01-01T11:00:00.000Z',
          granularity: '1m',
          truncated: false,
          cached: true,
        },
      },
    });
  });

  it('serialises number, bool, timestamp and topK columns, and null freshness times', async () => {
    const schema = buildViewSchema<Context>([probeChecks], fakeResolvers().resolvers);
    const result = await run(schema, '{ probeChecks { rows { port secure deployed_at checks mean_latency top_hosts { value count } } meta { batchVersion batchCutoff speedWatermark layers missing { from } } } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      probeChecks: {
        rows: [
          {
            port: 443,
            secure: true,
            deployed_at: '2026-01-01T09:00:00.000Z',
            checks: 4,
            mean_latency: 2.5,
            top_hosts: [
              { value: 'a.example', count: 3 },
              { value: 'b.example', count: 1 },
            ],
          },
        ],
        meta: { batchVersion: null, batchCutoff: null, speedWatermark: null, layers: ['SPEED'], missing: [] },
      },
    });
  });

  it('passes the arguments to the resolver as a ViewQueryInput, with the context', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    const result = await run(
      schema,
      `{ pageViews(from: "2026-01-01T10:00:00Z", to: 1767265200000, granularity: "1h", where: { url: { eq: "/a" } },
                   orderBy: { field: views, direction: DESC }, limit: 5, layer: SPEED) { rows { url } } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.view).toBe('page_views');
    expect(calls[0]!.context).toBe(CONTEXT);
    expect(calls[0]!.input).toEqual({
      from: T0,
      to: 1767265200000,
      granularity: '1h',
      where: { url: { eq: '/a' } },
      orderBy: { field: 'views', direction: 'desc' },
      limit: 5,
      layer: 'speed',
    });
  });

  it('passes timeZone on, and says which granularity and time zone the answer is in', async () => {
    const weekly: ViewAnswer = { ...PAGE_ANSWER, meta: { ...META, granularity: { kind: 'calendar', unit: 'week', timeZone: 'America/New_York' }, timeZone: 'America/New_York' } };
    const { calls, resolvers } = fakeResolvers({ page_views: weekly });
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    const result = await run(schema, '{ pageViews(granularity: "1w", timeZone: "America/New_York") { meta { granularity timeZone } } }');
    expect(result.errors).toBeUndefined();
    expect(calls[0]!.input).toMatchObject({ granularity: '1w', timeZone: 'America/New_York' });
    expect(result.data).toEqual({ pageViews: { meta: { granularity: '1w', timeZone: 'America/New_York' } } });
    // An explicit null is no argument at all.
    await run(schema, '{ pageViews(granularity: null, timeZone: null) { rows { url } } }');
    expect(calls[1]!.input.granularity).toBeUndefined();
    expect(calls[1]!.input.timeZone).toBeUndefined();
  });

  it('defaults layer to merged and orderBy direction to asc, and leaves the rest absent', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    await run(schema, '{ a: countryMinutes { rows { country } } b: countryMinutes(orderBy: { field: revenue }) { rows { country } } }');
    expect(calls.map((call) => call.input)).toEqual([
      { from: undefined, to: undefined, granularity: undefined, where: undefined, orderBy: undefined, limit: undefined, layer: 'merged' },
      { from: undefined, to: undefined, granularity: undefined, where: undefined, orderBy: { field: 'revenue', direction: 'asc' }, limit: undefined, layer: 'merged' },
    ]);
  });

  it('drops null filters and passes variables through', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    const result = await run(
      schema,
      'query ($where: PageViewsWhere, $from: DateTime) { pageViews(where: $where, from: $from) { rows { url } } }',
      { where: { url: null }, from: T0 },
    );
    expect(result.errors).toBeUndefined();
    expect(calls[0]!.input.where).toEqual({});
    expect(calls[0]!.input.from).toBe(T0);
    await run(schema, 'query ($where: PageViewsWhere) { pageViews(where: $where) { rows { url } } }', { where: null });
    expect(calls[1]!.input.where).toBeUndefined();
  });

  it('gives filters of typed dimensions typed values that parseViewQuery accepts', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>([probeChecks], resolvers);
    const result = await run(
      schema,
      `{ probeChecks(where: { port: { in: [80, 443] }, secure: { eq: true }, deployed_at: { eq: "2026-01-01T09:00:00Z" } }) { rows { port } } }`,
    );
    expect(result.errors).toBeUndefined();
    const input = calls[0]!.input;
    expect(input.where).toEqual({ port: { in: [80, 443] }, secure: { eq: true }, deployed_at: { eq: DEPLOYED_AT_MS } });
    const query = parseViewQuery(probeChecks, input, { maxRangeMs: HOUR_MS, maxRangeByView: {}, maxRows: 10 }, T0);
    expect(query.where).toEqual({ port: [80, 443], secure: [true], deployed_at: [DEPLOYED_AT_MS] });
  });

  it('refuses arguments the schema does not allow before calling the resolver', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    for (const source of [
      '{ pageViews(from: "garbage") { rows { url } } }',
      '{ pageViews(where: { country: { eq: "US" } }) { rows { url } } }',
      '{ pageViews(orderBy: { field: url }) { rows { url } } }',
      '{ pageViews(layer: BOTH) { rows { url } } }',
      '{ pageViews { rows { country } } }',
    ]) {
      const result = await run(schema, source);
      expect(result.errors?.length, source).toBeGreaterThan(0);
    }
    expect(calls).toEqual([]);
  });

  it('reports a BraidError with its code and fields in extensions', async () => {
    const error = new BraidError(ErrorCode.BAD_ARGUMENT, 'page_views: argument `granularity` must be a duration', {
      fields: { view: 'page_views', argument: 'granularity' },
      hint: 'try 1h',
    });
    const schema = buildViewSchema<Context>(demoViews, fakeResolvers({ page_views: error }).resolvers);
    const result = await run(schema, '{ pageViews(granularity: "soon") { rows { url } } }');
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.message).toBe(error.message);
    expect(result.errors![0]!.path).toEqual(['pageViews']);
    expect(result.errors![0]!.extensions).toEqual({ code: 'BAD_ARGUMENT', view: 'page_views', argument: 'granularity', hint: 'try 1h' });
  });

  it('hides the message of an unexpected error', async () => {
    const schema = buildViewSchema<Context>(demoViews, fakeResolvers({ page_views: new Error('redis password is hunter2') }).resolvers);
    const result = await run(schema, '{ pageViews { rows { url } } }');
    expect(result.errors![0]!.message).not.toMatch(/hunter2/);
    expect(result.errors![0]!.extensions).toEqual({ code: 'INTERNAL' });
  });

  it('lists the views the caller may read', async () => {
    const schema = buildViewSchema<Context>(demoViews, fakeResolvers().resolvers);
    const result = await run(schema, '{ views { name field description source window dimensions measures } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      views: [
        { name: 'page_views', field: 'pageViews', description: pageViews.description, source: 'clickstream', window: 'tumbling 1m', dimensions: ['url'], measures: ['views', 'visitors', 'revenue'] },
        { name: 'user_sessions', field: 'userSessions', description: userSessions.description, source: 'clickstream', window: 'session gap 30m', dimensions: ['user_id'], measures: ['events', 'revenue'] },
      ],
    });
  });

  it('works in a second schema built in the same process (shared filter types)', async () => {
    const first = buildViewSchema<Context>(demoViews, fakeResolvers().resolvers);
    const { calls, resolvers } = fakeResolvers();
    const second = buildViewSchema<Context>([countryMinutes, probeChecks], resolvers);
    expect(validateSchema(first)).toEqual([]);
    expect(validateSchema(second)).toEqual([]);
    const result = await run(second, '{ countryMinutes(where: { country: { in: ["US"] } }) { rows { country } } }');
    expect(result.errors).toBeUndefined();
    expect(calls[0]!.input.where).toEqual({ country: { in: ['US'] } });
  });
});

describe('view subscriptions', () => {
  it('turn last into a relative from and answer with the resolver’s updates', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    const result = await firstUpdate(schema, 'subscription { pageViewsUpdated(last: "15m", where: { url: { in: ["/a", "/b"] } }) { rows { windowStart url views } meta { cached } } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      pageViewsUpdated: {
        rows: [
          { windowStart: '2026-01-01T10:00:00.000Z', url: '/a', views: 2 ** 40 },
          { windowStart: '2026-01-01T10:01:00.000Z', url: null, views: 1 },
        ],
        meta: { cached: true },
      },
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.view).toBe('page_views');
    expect(calls[0]!.context).toBe(CONTEXT);
    expect(calls[0]!.input).toMatchObject({ from: 'now-15m', to: undefined, where: { url: { in: ['/a', '/b'] } }, layer: undefined });
  });

  it('prefers an explicit from over last', async () => {
    const { calls, resolvers } = fakeResolvers();
    const schema = buildViewSchema<Context>(demoViews, resolvers);
    await firstUpdate(schema, 'subscription { userSessionsUpdated(last: "15m", from: 1767261600000) { rows { user_id events } } }');
    expect(calls[0]!.input.from).toBe(T0);
  });

  it('push every update the resolver yields', async () => {
    const schema = buildViewSchema<Context>(demoViews, fakeResolvers().resolvers);
    const stream = await subscribe({ schema, document: parse('subscription { countryMinutesUpdated { meta { cached } } }'), contextValue: CONTEXT });
    if (!(Symbol.asyncIterator in stream)) throw new Error(`subscription failed: ${JSON.stringify(stream.errors)}`);
    const updates: unknown[] = [];
    for await (const update of stream) updates.push(update.data);
    expect(updates).toEqual([{ countryMinutesUpdated: { meta: { cached: true } } }, { countryMinutesUpdated: { meta: { cached: false } } }]);
  });

  it('report a resolver’s refusal with its code', async () => {
    const refusal = new BraidError(ErrorCode.FORBIDDEN, 'anonymous may not read view page_views', { fields: { view: 'page_views' } });
    const schema = buildViewSchema<Context>(demoViews, fakeResolvers({ page_views: refusal }).resolvers);
    const result = await firstUpdate(schema, 'subscription { pageViewsUpdated { rows { url } } }');
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.message).toBe(refusal.message);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', view: 'page_views' });
  });
});

describe('DateTime scalar', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('serialises epoch milliseconds as ISO-8601 UTC', () => {
    expect(DateTimeScalar.serialize(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(DateTimeScalar.serialize(T0 + 1)).toBe('2026-01-01T10:00:00.001Z');
  });

  it('reads ISO-8601, epoch milliseconds, now and now-<duration> from variables', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    expect(DateTimeScalar.parseValue('2026-01-01T10:00:00Z')).toBe(T0);
    expect(DateTimeScalar.parseValue('2026-01-01T11:00:00+01:00')).toBe(T0);
    expect(DateTimeScalar.parseValue(T0)).toBe(T0);
    expect(DateTimeScalar.parseValue(String(T0))).toBe(T0);
    expect(DateTimeScalar.parseValue('now')).toBe(T0);
    expect(DateTimeScalar.parseValue('now-1h')).toBe(T0 - HOUR_MS);
  });

  it('reads string and integer literals', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    expect(DateTimeScalar.parseLiteral(parseGraphQLValue('"now-15m"'))).toBe(T0 - 15 * MINUTE_MS);
    expect(DateTimeScalar.parseLiteral(parseGraphQLValue('"2026-01-01T10:00:00Z"'))).toBe(T0);
    expect(DateTimeScalar.parseLiteral(parseGraphQLValue(String(T0)))).toBe(T0);
  });

  it.each([['garbage'], ['now-soon'], [''], [true], [{}], [Number.NaN], [null]])('rejects %j', (value) => {
    expect(() => DateTimeScalar.parseValue(value)).toThrow(/DateTime: expected ISO-8601/);
  });

  it('rejects float, boolean and object literals', () => {
    for (const literal of ['1.5', 'true', '{ at: 1 }']) {
      expect(() => DateTimeScalar.parseLiteral(parseGraphQLValue(literal))).toThrow(/DateTime: expected/);
    }
  });

  it('reports what it cannot read as a BAD_ARGUMENT', () => {
    for (const read of [() => DateTimeScalar.parseValue('garbage'), () => DateTimeScalar.parseLiteral(parseGraphQLValue('true'))]) {
      let thrown: unknown;
      try {
        read();
      } catch (error) {
        thrown = error;
      }
      expect((thrown as { extensions?: unknown }).extensions).toEqual({ code: 'BAD_ARGUMENT' });
    }
  });

  it('leaves times outside the years 0000–9999 to the view’s arguments, which name the argument', async () => {
    expect(DateTimeScalar.parseLiteral(parseGraphQLValue('"99999999999999999999"'))).toBe(1e20);
    const schema = buildViewSchema(demoViews, {
      answer: async (view, input) => {
        parseViewQuery(view, input, { maxRangeMs: HOUR_MS, maxRangeByView: {}, maxRows: 10 }, T0);
        return { rows: [], meta: {} as never };
      },
      watch: () => {
        throw new Error('not watched');
      },
      readable: () => [],
    });
    for (const [argument, source] of [
      ['from', '{ pageViews(from: "99999999999999999999") { rows { url } } }'],
      ['from', '{ pageViews(from: 99999999999999999999) { rows { url } } }'],
      ['to', '{ pageViews(to: "8640000000000001") { rows { url } } }'],
    ] as const) {
      const result = await graphql({ schema, source });
      expect(result.errors?.[0]?.extensions, source).toMatchObject({ code: 'BAD_ARGUMENT', argument });
    }
  });

  it('refuses to serialise what is not a point in time with its own message', () => {
    expect(() => DateTimeScalar.serialize(8_640_000_000_000_001)).toThrow(/DateTime: not a point in time: 8640000000000001/);
    expect(() => DateTimeScalar.serialize(Number.NaN)).toThrow(/DateTime: not a point in time/);
  });
});

describe('Long scalar', () => {
  it('passes whole numbers past 32 bits', () => {
    expect(LongScalar.serialize(2 ** 40)).toBe(2 ** 40);
    expect(LongScalar.parseValue(2 ** 40)).toBe(2 ** 40);
    expect(LongScalar.parseLiteral(parseGraphQLValue('1099511627776'))).toBe(2 ** 40);
    expect(LongScalar.parseValue(0)).toBe(0);
  });

  it.each([[1.5], ['12'], [2 ** 53], [Number.NaN], [null]])('refuses %j as input', (value) => {
    expect(() => LongScalar.parseValue(value)).toThrow(/Long: expected a whole number/);
  });

  it('refuses to serialise a fraction or a non-number', () => {
    expect(() => LongScalar.serialize(1.5)).toThrow(/Long: not a whole number/);
    expect(() => LongScalar.serialize('12')).toThrow(/Long: not a whole number/);
  });

  it('refuses a float or string literal', () => {
    expect(() => LongScalar.parseLiteral({ kind: Kind.FLOAT, value: '1.5' })).toThrow(/Long: expected a whole number/);
    expect(() => LongScalar.parseLiteral(parseGraphQLValue('"12"'))).toThrow(/Long: expected a whole number/);
  });
});

describe('GraphQL arguments at their edges', () => {
  it('where with an explicit in: null is no in filter', async () => {
    const hour = 3_600_000;
    const now = Date.parse('2026-01-01T12:00:00Z');
    const schema = buildViewSchema(demoViews, {
      answer: async (view, input) => {
        parseViewQuery(view, input, { maxRangeMs: 2 * hour, maxRangeByView: {}, maxRows: 10 }, now);
        return { rows: [], meta: {} as never };
      },
      watch: () => {
        throw new Error('x');
      },
      readable: () => [],
    });
    const result = await graphql({ schema, source: 'query ($urls: [String]) { pageViews(where: { url: { eq: "/a", in: $urls } }) { rows { url } } }', variableValues: { urls: null } });
    expect(result.errors).toBeUndefined();
  });

  it('a Long literal refuses what a Long variable refuses (unsafe integers)', () => {
    expect(() => LongScalar.parseValue(9007199254740993)).toThrow();
    expect(() => LongScalar.parseLiteral(parseGraphQLValue('9007199254740993'))).toThrow();
  });
});
