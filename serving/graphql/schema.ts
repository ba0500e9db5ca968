import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLFloat,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  type GraphQLFieldConfig,
  type GraphQLFieldConfigArgumentMap,
  type GraphQLInputType,
  type GraphQLOutputType,
} from 'graphql';
import { assertNever } from '../../shared/errors/index.ts';
import type { EntryShape, Measure } from '../../shared/measures/index.ts';
import { granularityText } from '../../shared/time/index.ts';
import { describeWindow, isCalendarWindow, type Dimension, type View } from '../../shared/views/index.ts';
import { flatRows } from '../answer-rows.ts';
import { toGraphQLError } from '../errors.ts';
import type { ViewAnswer } from '../view-reader.ts';
import type { ViewQueryInput } from '../view-query.ts';
import { DateTimeScalar, LongScalar } from './scalars.ts';

/** What the generated resolvers call; `context` is the yoga context (it carries the caller). */
export interface ViewResolvers<Context> {
  answer(view: View, input: ViewQueryInput, context: Context): Promise<ViewAnswer>;
  /** Answers again after each speed-layer flush that touched the view. */
  watch(view: View, input: ViewQueryInput, context: Context): AsyncIterable<ViewAnswer>;
  /** The views the caller may read (for the `views` field). */
  readable(context: Context): View[];
}

/** `page_views` → `pageViews` (the query field). */
export function fieldNameOf(view: string): string {
  return view.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** `page_views` → `PageViews` (the type prefix). */
export function typeNameOf(view: string): string {
  const field = fieldNameOf(view);
  return field[0]!.toUpperCase() + field.slice(1);
}

const nonNull = <T extends GraphQLOutputType | GraphQLInputType>(type: T) => new GraphQLNonNull(type);

const LayerEnum = new GraphQLEnumType({
  name: 'Layer',
  description: 'Which side of the braid to read: MERGED (the answer), or one layer alone for debugging.',
  values: { MERGED: { value: 'merged' }, BATCH: { value: 'batch' }, SPEED: { value: 'speed' } },
});

const OrderDirectionEnum = new GraphQLEnumType({ name: 'OrderDirection', values: { ASC: { value: 'asc' }, DESC: { value: 'desc' } } });

const TimeRangeType = new GraphQLObjectType<{ fromMs: number; toMs: number }>({
  name: 'TimeRange',
  fields: { from: { type: nonNull(DateTimeScalar), resolve: (range) => range.fromMs }, to: { type: nonNull(DateTimeScalar), resolve: (range) => range.toMs } },
});

const FreshnessType = new GraphQLObjectType({
  name: 'Freshness',
  description: 'Where an answer came from: the batch version and cutoff pinned for it, the speed watermark, and any gap.',
  fields: {
    batchVersion: { type: GraphQLInt, description: 'The batch version pinned for the request (null before the first publish).' },
    batchCutoff: { type: DateTimeScalar, description: 'Windows ending at or before this came from the batch view; later ones from the speed view.', resolve: (meta: ViewAnswer['meta']) => meta.batchCutoffMs },
    speedWatermark: { type: DateTimeScalar, resolve: (meta: ViewAnswer['meta']) => meta.speedWatermarkMs },
    layers: { type: nonNull(new GraphQLList(nonNull(LayerEnum))), description: 'The layers that contributed rows.' },
    partial: { type: nonNull(GraphQLBoolean), description: 'Part of the range could not be served (see missing): numbers there may be too small.' },
    missing: { type: nonNull(new GraphQLList(nonNull(TimeRangeType))) },
    from: { type: nonNull(DateTimeScalar), resolve: (meta: ViewAnswer['meta']) => meta.fromMs },
    to: { type: nonNull(DateTimeScalar), resolve: (meta: ViewAnswer['meta']) => meta.toMs },
    granularity: { type: nonNull(GraphQLString), description: 'The rows’ buckets: a fixed duration (1m, 1h) or a calendar unit (1d, 1w, 1mo, 1q, 1y).', resolve: (meta: ViewAnswer['meta']) => granularityText(meta.granularity) },
    timeZone: { type: nonNull(GraphQLString), description: 'The IANA time zone of calendar buckets.' },
    truncated: { type: nonNull(GraphQLBoolean), description: 'More rows matched than `limit`.' },
    cached: { type: nonNull(GraphQLBoolean) },
  },
});

/** GraphQL object types of list-valued measures' entries, by name (`TopKEntry`, `QuantileEntry`): one per schema. */
const entryTypes = new Map<string, GraphQLObjectType>();
function entryType(entry: EntryShape): GraphQLObjectType {
  let type = entryTypes.get(entry.name);
  if (!type) {
    const scalar = { string: GraphQLString, int: LongScalar, float: GraphQLFloat } as const;
    type = new GraphQLObjectType({ name: entry.name, fields: Object.fromEntries(entry.fields.map((field) => [field.name, { type: nonNull(scalar[field.type]) }])) });
    entryTypes.set(entry.name, type);
  }
  return type;
}

const filterTypes = new Map<string, GraphQLInputObjectType>();
function filterOf(name: string, type: GraphQLInputType): GraphQLInputObjectType {
  let filter = filterTypes.get(name);
  if (!filter) {
    filter = new GraphQLInputObjectType({
      name: `${name}Filter`,
      description: 'Rows whose value equals `eq` and/or is one of `in`.',
      fields: { eq: { type }, in: { type: new GraphQLList(type) } },
    });
    filterTypes.set(name, filter);
  }
  return filter;
}

function dimensionTypes(dimension: Dimension): { output: GraphQLOutputType; filter: GraphQLInputObjectType } {
  switch (dimension.type) {
    case 'string':
      return { output: GraphQLString, filter: filterOf('String', GraphQLString) };
    case 'number':
      return { output: GraphQLFloat, filter: filterOf('Float', GraphQLFloat) };
    case 'bool':
      return { output: GraphQLBoolean, filter: filterOf('Boolean', GraphQLBoolean) };
    case 'timestamp':
      return { output: DateTimeScalar, filter: filterOf('DateTime', DateTimeScalar) };
  }
}

function measureType(measure: Measure): GraphQLOutputType {
  const output = measure.output;
  switch (output.type) {
    case 'int':
      return nonNull(LongScalar);
    case 'float':
      // sum/min/max/avg of no values is null, as in SQL.
      return GraphQLFloat;
    case 'entries':
      return nonNull(new GraphQLList(nonNull(entryType(output.entry))));
    default:
      return assertNever(output);
  }
}


interface GraphQLViewArgs {
  from?: number;
  to?: number;
  last?: string;
  granularity?: string | null;
  timeZone?: string | null;
  where?: Record<string, unknown>;
  orderBy?: { field: string; direction?: string };
  limit?: number;
  layer?: string;
}

function toInput(args: GraphQLViewArgs): ViewQueryInput {
  return {
    from: args.from ?? (args.last !== undefined ? `now-${args.last}` : undefined),
    to: args.to,
    // An explicit null means "not given", as for any optional input.
    granularity: args.granularity ?? undefined,
    timeZone: args.timeZone ?? undefined,
    // GraphQL's null-prototype objects become plain ones; an explicit null filter (or its eq/in) is not given either.
    where: args.where
      ? Object.fromEntries(
          Object.entries(args.where)
            .filter(([, value]) => value !== null)
            .map(([name, value]) => [name, Object.fromEntries(Object.entries(value as object).filter(([, part]) => part !== null))]),
        )
      : undefined,
    orderBy: args.orderBy,
    limit: args.limit,
    layer: args.layer,
  };
}

/**
 * Generates the GraphQL schema from the view definitions: one typed query
 * field per view (`pageViews(from, to, granularity, timeZone, where, orderBy, limit, layer)`),
 * one subscription field per view (`pageViewsUpdated`), and `views`.
 */
export function buildViewSchema<Context>(views: readonly View[], resolvers: ViewResolvers<Context>): GraphQLSchema {
  const queryFields: Record<string, GraphQLFieldConfig<unknown, Context>> = {};
  const subscriptionFields: Record<string, GraphQLFieldConfig<unknown, Context>> = {};
  for (const view of views) {
    const prefix = typeNameOf(view.name);
    const rowFields: Record<string, { type: GraphQLOutputType; description?: string }> = {
      windowStart: { type: nonNull(DateTimeScalar), description: 'Start of the window (or roll-up bucket), inclusive.' },
      windowEnd: { type: nonNull(DateTimeScalar), description: 'End of the window (or roll-up bucket), exclusive.' },
    };
    const whereFields: Record<string, { type: GraphQLInputType }> = {};
    for (const dimension of view.dimensions) {
      const types = dimensionTypes(dimension);
      rowFields[dimension.name] = { type: types.output, description: `Dimension (${dimension.type}).` };
      whereFields[dimension.name] = { type: types.filter };
    }
    for (const { name, measure } of view.measures) rowFields[name] = { type: measureType(measure), description: measure.describe() };
    const rowType = new GraphQLObjectType({ name: `${prefix}Row`, fields: rowFields });
    const resultType = new GraphQLObjectType({
      name: `${prefix}Result`,
      fields: {
        rows: { type: nonNull(new GraphQLList(nonNull(rowType))), resolve: (answer: ViewAnswer) => flatRows(answer) },
        meta: { type: nonNull(FreshnessType) },
      },
    });
    const orderFieldEnum = new GraphQLEnumType({
      name: `${prefix}OrderField`,
      values: Object.fromEntries(['windowStart', ...view.measures.filter(({ measure }) => measure.output.type !== 'entries').map(({ name }) => name)].map((name) => [name, { value: name }])),
    });
    const orderByType = new GraphQLInputObjectType({
      name: `${prefix}OrderBy`,
      fields: { field: { type: nonNull(orderFieldEnum) }, direction: { type: OrderDirectionEnum, defaultValue: 'asc' } },
    });
    const common: GraphQLFieldConfigArgumentMap = {
      granularity: {
        type: GraphQLString,
        description: isCalendarWindow(view.window)
          ? `Row width: the view's own windows (${describeWindow(view.window)}, the default) or a coarser calendar unit of timeZone (1w = ISO week, 1mo, 1q, 1y) whose boundaries are window boundaries; measures roll up by monoid merge.`
          : view.window.type === 'tumbling'
            ? `Row width: the view's own windows (${describeWindow(view.window)}, the default), a multiple of them, e.g. 1h, or a calendar unit of timeZone (1d, 1w = ISO week, 1mo, 1q, 1y) whose boundaries are window boundaries; measures roll up by monoid merge.`
            : `Only the view's own windows (${describeWindow(view.window)}) can be returned.`,
      },
      timeZone: {
        type: GraphQLString,
        description: `IANA time zone of calendar granularities, e.g. America/New_York. Default: ${isCalendarWindow(view.window) ? `the view's own, ${view.window.timeZone}` : 'UTC'}.`,
      },
      ...(view.dimensions.length > 0 ? { where: { type: new GraphQLInputObjectType({ name: `${prefix}Where`, fields: whereFields }) } } : {}),
      orderBy: { type: orderByType, description: 'Default: windowStart ascending.' },
      limit: { type: GraphQLInt, description: 'At most this many rows (default and maximum: the server’s serving.limits.maxRows).' },
    };
    const description = `${view.description} Window: ${describeWindow(view.window)}.`;
    queryFields[fieldNameOf(view.name)] = {
      type: nonNull(resultType),
      description,
      args: {
        from: { type: DateTimeScalar, description: 'Windows starting at or after this. Default: one hour before `to`.' },
        to: { type: DateTimeScalar, description: 'Windows starting before this. Default: now.' },
        ...common,
        layer: { type: LayerEnum, defaultValue: 'merged' },
      },
      resolve: async (_source, args: GraphQLViewArgs, context) => {
        try {
          return await resolvers.answer(view, toInput(args), context);
        } catch (thrown) {
          throw toGraphQLError(thrown);
        }
      },
    };
    subscriptionFields[`${fieldNameOf(view.name)}Updated`] = {
      type: nonNull(resultType),
      description: `${description} Pushed on subscribing and after each speed-layer flush that touched the view.`,
      args: {
        last: { type: GraphQLString, description: 'Each update covers windows starting in the last this long (e.g. 15m); default 1h. Or give from/to.' },
        from: { type: DateTimeScalar, description: 'Instead of `last`: a fixed range start.' },
        to: { type: DateTimeScalar },
        ...common,
      },
      subscribe: (_source, args: GraphQLViewArgs, context) => {
        try {
          return resolvers.watch(view, toInput(args), context)[Symbol.asyncIterator]();
        } catch (thrown) {
          throw toGraphQLError(thrown);
        }
      },
      resolve: (answer) => answer,
    };
  }

  const ViewInfoType = new GraphQLObjectType({
    name: 'ViewInfo',
    fields: {
      name: { type: nonNull(GraphQLString) },
      field: { type: nonNull(GraphQLString), description: 'The query field that reads the view.', resolve: (view: View) => fieldNameOf(view.name) },
      description: { type: nonNull(GraphQLString) },
      source: { type: nonNull(GraphQLString), resolve: (view: View) => view.source.name },
      window: { type: nonNull(GraphQLString), resolve: (view: View) => describeWindow(view.window) },
      dimensions: { type: nonNull(new GraphQLList(nonNull(GraphQLString))), resolve: (view: View) => view.dimensions.map((d) => d.name) },
      measures: { type: nonNull(new GraphQLList(nonNull(GraphQLString))), resolve: (view: View) => view.measures.map((m) => m.name) },
    },
  });
  queryFields.views = { type: nonNull(new GraphQLList(nonNull(ViewInfoType))), description: 'The views you may read.', resolve: (_source, _args, context) => resolvers.readable(context) };

  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: queryFields }),
    ...(views.length > 0 ? { subscription: new GraphQLObjectType({ name: 'Subscription', fields: subscriptionFields }) } : {}),
  });
}
