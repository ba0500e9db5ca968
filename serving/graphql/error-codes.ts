import { GraphQLError } from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import { ErrorCode } from '../../shared/errors/index.ts';

const BRAID_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** What /graphql answers in, as a 406 names them. */
const GRAPHQL_MEDIA_TYPES = ['application/graphql-response+json', 'application/json', 'text/event-stream', 'multipart/mixed'];

/**
 * An error graphql-js or yoga made (syntax, validation, an unusable request: codes such as GRAPHQL_PARSE_FAILED,
 * BAD_REQUEST or none), with Braid's code: BAD_ARGUMENT, or INTERNAL for what yoga counts as unexpected.
 */
function withBraidCode(error: GraphQLError): GraphQLError {
  const { code, http, unexpected } = error.extensions as { code?: unknown; http?: { status?: number }; unexpected?: unknown };
  if (typeof code === 'string' && BRAID_CODES.has(code)) return error;
  const internal = code === 'INTERNAL_SERVER_ERROR' || unexpected === true || (http?.status ?? 0) >= 500;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code: internal ? ErrorCode.INTERNAL : ErrorCode.BAD_ARGUMENT },
  });
}

type Result = { readonly errors?: readonly GraphQLError[] };

function resultWithCodes<T extends Result>(result: T): T {
  if (!result?.errors?.some((error) => withBraidCode(error) !== error)) return result;
  return { ...result, errors: result.errors.map(withBraidCode) };
}

/** The error of a response yoga sends without a body (406, 415, …). */
function emptyRefusal(status: number): { message: string; extensions: Record<string, unknown> } {
  switch (status) {
    case 406:
      return {
        message: `cannot answer in any type of Accept; a query answers in application/graphql-response+json or application/json, a subscription in text/event-stream or multipart/mixed`,
        extensions: { code: ErrorCode.NOT_ACCEPTABLE, acceptable: GRAPHQL_MEDIA_TYPES },
      };
    case 415:
      return {
        message: 'a POST to /graphql takes Content-Type application/json (or application/graphql, application/x-www-form-urlencoded, multipart/form-data)',
        extensions: { code: ErrorCode.BAD_ARGUMENT, argument: 'content-type' },
      };
    default:
      return { message: `the request was refused (HTTP ${status})`, extensions: { code: status >= 500 ? ErrorCode.INTERNAL : ErrorCode.BAD_ARGUMENT } };
  }
}

/**
 * Every GraphQL error carries one of Braid's codes (docs/serving.md lists them): graphql-js's and yoga's own errors
 * (syntax, validation, an unusable request) get BAD_ARGUMENT, in single, batched and streamed results; so does
 * whatever else yoga's request parsers throw, which yoga would answer with a 500 (JSON.parse's SyntaxError for
 * `variables` or `extensions` that are not JSON in a GET or form request, a TypeError for a multipart request whose
 * `operations` is null); a document nested deeper than the parser's stack reaches is LIMIT_EXCEEDED; a response yoga refuses without a body (406 for an Accept it cannot answer, 415 for
 * a Content-Type it cannot read) gets one, in place of yoga's `Accept` header that lists its types once per type
 * the request named.
 */
export function useBraidErrorCodes(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (thrown) {
          // yoga's own refusals are GraphQL errors already; an aborted request is no one's answer.
          if (thrown instanceof GraphQLError || (thrown instanceof Error && (thrown.name === 'AbortError' || thrown.name === 'TimeoutError'))) throw thrown;
          const what = thrown instanceof SyntaxError ? "the request's variables or extensions are not JSON" : 'the request could not be read';
          throw new GraphQLError(`${what}: ${thrown instanceof Error ? thrown.message : String(thrown)}`, { extensions: { code: ErrorCode.BAD_ARGUMENT, http: { status: 400 } } });
        }
      });
    },
    onParse({ parseFn, setParseFn }) {
      setParseFn((source, options) => {
        try {
          return parseFn(source, options);
        } catch (thrown) {
          // graphql-js parses nested lists, objects and selections recursively: deep enough, the stack runs out
          // before armor's token limit is reached.
          if (!(thrown instanceof RangeError)) throw thrown;
          throw new GraphQLError('the document nests lists, objects or selections too deeply to be read', { extensions: { code: ErrorCode.LIMIT_EXCEEDED, limit: 'nesting' } });
        }
      });
    },
    onResultProcess({ result, setResult }) {
      if (isAsyncIterable(result)) setResult(mapAsyncIterator(result, (value) => resultWithCodes(value)));
      else if (Array.isArray(result)) setResult(result.map((one) => resultWithCodes(one)));
      else setResult(resultWithCodes(result));
    },
    onResponse({ response, setResponse, fetchAPI }) {
      if (response.status < 400 || response.body !== null) return;
      const { message, extensions } = emptyRefusal(response.status);
      const allow = response.headers.get('allow');
      setResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions }] }), {
          status: response.status,
          headers: { 'content-type': 'application/json; charset=utf-8', ...(allow ? { allow } : {}) },
        }),
      );
    },
  };
}
