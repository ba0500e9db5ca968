import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { httpStatusOf, publicError, toGraphQLError } from '../../serving/errors.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';

describe('httpStatusOf', () => {
  it.each([
    [ErrorCode.UNAUTHENTICATED, 401],
    [ErrorCode.FORBIDDEN, 403],
    [ErrorCode.RATE_LIMITED, 429],
    [ErrorCode.BAD_ARGUMENT, 400],
    [ErrorCode.LIMIT_EXCEEDED, 400],
    [ErrorCode.NOT_FOUND, 404],
    [ErrorCode.TIMEOUT, 504],
    [ErrorCode.REDIS_UNREACHABLE, 503],
    [ErrorCode.KAFKA_UNREACHABLE, 503],
    [ErrorCode.INTERNAL, 500],
    [ErrorCode.CONFIG_INVALID, 500],
  ])('maps %s to %i', (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
  });

  it('has a status for every code: client errors 4xx, the rest 5xx', () => {
    for (const code of Object.values(ErrorCode)) {
      const status = httpStatusOf(code);
      expect(Number.isInteger(status), code).toBe(true);
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
    }
  });
});

describe('publicError', () => {
  it('shows code, message, fields and hint', () => {
    const error = new BraidError(ErrorCode.BAD_ARGUMENT, 'bad limit', { fields: { view: 'page_views', argument: 'limit' }, hint: 'use 1–100' });
    expect(publicError(error)).toEqual({ code: 'BAD_ARGUMENT', message: 'bad limit', view: 'page_views', argument: 'limit', hint: 'use 1–100' });
  });

  it('does not let a field overwrite the code or the message', () => {
    const error = new BraidError(ErrorCode.NOT_FOUND, 'no such view', { fields: { code: 'OK', message: 'fine' } });
    expect(publicError(error)).toMatchObject({ code: 'NOT_FOUND', message: 'no such view' });
  });

  it('shows nothing of an internal error but its code', () => {
    const error = new BraidError(ErrorCode.INTERNAL, 'connect ECONNREFUSED 10.0.0.7:6379', { fields: { host: '10.0.0.7' }, hint: 'secret' });
    expect(publicError(error)).toEqual({ code: 'INTERNAL', message: 'internal error (logged on the server)' });
  });
});

describe('toGraphQLError', () => {
  it('keeps the code and fields of a BraidError in extensions', () => {
    const error = new BraidError(ErrorCode.LIMIT_EXCEEDED, 'page_views: argument `limit` may be at most 10', { fields: { view: 'page_views', argument: 'limit' } });
    const graphQLError = toGraphQLError(error);
    expect(graphQLError).toBeInstanceOf(GraphQLError);
    expect(graphQLError.message).toBe(error.message);
    expect(graphQLError.extensions).toEqual({ code: 'LIMIT_EXCEEDED', view: 'page_views', argument: 'limit' });
    expect(graphQLError.extensions).not.toHaveProperty('message');
  });

  it('carries the hint', () => {
    const graphQLError = toGraphQLError(new BraidError(ErrorCode.FORBIDDEN, 'no', { fields: { view: 'v' }, hint: 'grant it' }));
    expect(graphQLError.extensions).toEqual({ code: 'FORBIDDEN', view: 'v', hint: 'grant it' });
  });

  it('hides the message of anything unexpected, and attaches no original error for yoga to mask', () => {
    for (const thrown of [new TypeError('cannot read x of undefined'), 'a thrown string', new BraidError(ErrorCode.INTERNAL, 'disk full at /var/secret')]) {
      const graphQLError = toGraphQLError(thrown);
      expect(graphQLError.message).toBe('internal error (logged on the server)');
      expect(graphQLError.extensions).toEqual({ code: 'INTERNAL' });
      expect(graphQLError.originalError).toBeUndefined();
    }
  });

  it('passes a GraphQLError through unchanged', () => {
    const original = new GraphQLError('already shaped', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(toGraphQLError(original)).toBe(original);
  });
});
