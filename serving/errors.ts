import { GraphQLError } from 'graphql';
import { ErrorCode, toBraidError, type BraidError } from '../shared/errors/index.ts';

const HTTP_STATUS: Record<ErrorCode, number> = {
  CONFIG_INVALID: 500,
  BAD_ARGUMENT: 400,
  TOOL_NOT_FOUND: 500,
  MAVEN_FETCH_FAILED: 500,
  PORT_IN_USE: 500,
  STACK_START_FAILED: 500,
  KAFKA_UNREACHABLE: 503,
  REDIS_UNREACHABLE: 503,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_ACCEPTABLE: 406,
  LIMIT_EXCEEDED: 400,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TIMEOUT: 504,
  INTERNAL: 500,
};

/** The one place error codes become HTTP statuses. */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** What a client sees of an error: its code, message and structured fields; never a stack, and nothing of an internal error. */
export function publicError(error: BraidError): { code: ErrorCode; message: string; [field: string]: unknown } {
  if (error.code === ErrorCode.INTERNAL) return { code: error.code, message: 'internal error (logged on the server)' };
  return { ...error.fields, code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
}

/**
 * Anything thrown in a resolver, as a GraphQL error carrying Braid's code.
 * graphql-yoga masks every other kind, and also a GraphQLError wrapping a
 * non-GraphQL `originalError`, so none is attached; an internal error's
 * message stays generic and the caller logs it.
 */
export function toGraphQLError(thrown: unknown, options: { httpStatus?: boolean } = {}): GraphQLError {
  if (thrown instanceof GraphQLError) return thrown;
  const error = toBraidError(thrown);
  const { message, ...extensions } = publicError(error);
  // `http` (set for failures before execution, e.g. credentials) becomes the response status; yoga drops it from the body.
  const retryAfterMs = error.fields.retryAfterMs;
  const headers = typeof retryAfterMs === 'number' ? { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) } : undefined;
  return new GraphQLError(message, { extensions: options.httpStatus ? { ...extensions, http: { status: httpStatusOf(error.code), ...(headers ? { headers } : {}) } } : extensions });
}
