import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { ErrorCode } from '../../shared/errors/index.ts';
import { parseTimeMs } from '../../shared/time/index.ts';

/** An input a scalar cannot read: a BAD_ARGUMENT, as the checks of a view's arguments report. */
const badInput = (message: string) => new GraphQLError(message, { extensions: { code: ErrorCode.BAD_ARGUMENT } });

/**
 * A point in time: ISO-8601 out; ISO-8601, epoch milliseconds, `now` or `now-<duration>` in. Epoch ms inside.
 * Any finite time is read; the view's arguments (serving/view-query.ts) refuse those outside the years 0000–9999,
 * naming the argument.
 */
export const DateTimeScalar = new GraphQLScalarType<number | null, string>({
  name: 'DateTime',
  description: 'A point in time. Output: ISO-8601 (UTC). Input: ISO-8601, epoch milliseconds, `now`, or `now-<duration>` such as `now-1h`.',
  // Epoch ms, or ISO text already made (rows of cached answers are formatted once).
  serialize: (value) => {
    if (typeof value === 'string') return value;
    const date = new Date(value as number);
    if (Number.isNaN(date.getTime())) throw new GraphQLError(`DateTime: not a point in time: ${String(value)}`);
    return date.toISOString();
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING) return parseDateTime(ast.value);
    if (ast.kind === Kind.INT) return parseDateTime(Number(ast.value));
    throw badInput('DateTime: expected a string such as "2026-11-21T10:00:00Z" or "now-1h", or epoch milliseconds');
  },
});

function parseDateTime(value: unknown): number {
  const parsed = typeof value === 'number' ? value : typeof value === 'string' ? parseTimeMs(value) : undefined;
  if (parsed === undefined || !Number.isFinite(parsed)) {
    throw badInput(`DateTime: expected ISO-8601, epoch milliseconds, "now" or "now-<duration>"; got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** Whole numbers past GraphQL Int's 32 bits (counts over long ranges), exact up to 2^53. */
export const LongScalar = new GraphQLScalarType<number, number>({
  name: 'Long',
  description: 'A whole number exact up to 2^53 (GraphQL Int stops at 2^31).',
  serialize: (value) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new GraphQLError(`Long: not a whole number: ${String(value)}`);
    return value;
  },
  parseValue: (value) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new GraphQLError(`Long: expected a whole number; got ${JSON.stringify(value)}`);
    return value;
  },
  parseLiteral: (ast) => {
    const value = ast.kind === Kind.INT ? Number(ast.value) : NaN;
    if (!Number.isSafeInteger(value)) throw new GraphQLError('Long: expected a whole number within ±2^53');
    return value;
  },
});
