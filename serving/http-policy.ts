import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { httpStatusOf, publicError } from './errors.ts';

/**
 * What the serving layer's HTTP surface demands of every request and adds to
 * every response, on the hono app and on `/graphql` served from Node's own
 * request and response alike: a bounded body (`serving.limits.maxBodyBytes`),
 * hono's secure headers, and the CORS policy of `serving.cors.origins`.
 */
export interface HttpPolicy {
  /** For the hono app, in order: secure headers, CORS (when origins are configured), the body limit. */
  readonly middleware: readonly MiddlewareHandler[];
  /** The headers the middleware gives a response to a request from `origin` (none: same-origin), for a Node response. */
  headersFor(origin: string | undefined): ReadonlyArray<readonly [string, string]>;
  /**
   * Whether a Node request's body is within the limit: `undefined` when its Content-Length says so (yoga reads
   * the body); a chunked body is read here, up to the limit, and returned. Rejects with PAYLOAD_TOO_LARGE past it.
   */
  checkBody(request: IncomingMessage): Promise<Buffer | undefined>;
  /** Answers a Node request refused before yoga saw it (its headers set): the error as a GraphQL response. */
  refuseGraphQL(response: ServerResponse, error: BraidError): void;
}

/** The client's address: the first of X-Forwarded-For when the proxy in front is trusted, else the connection's. */
export function clientAddress(forwardedFor: string | null | undefined, connectionAddress: string | undefined, trustProxy: boolean): string | undefined {
  const forwarded = trustProxy ? forwardedFor?.split(',')[0]?.trim() : undefined;
  return forwarded || connectionAddress;
}

/** The error of a body past `serving.limits.maxBodyBytes`. */
export function payloadTooLarge(maxBytes: number): BraidError {
  return new BraidError(ErrorCode.PAYLOAD_TOO_LARGE, `the request body is larger than the ${maxBytes} bytes allowed`, {
    fields: { limit: 'maxBodyBytes', maxBytes },
    hint: 'send a smaller request, or raise serving.limits.maxBodyBytes',
  });
}

export async function httpPolicy(config: Config): Promise<HttpPolicy> {
  const maxBytes = config.serving.limits.maxBodyBytes;
  const { origins } = config.serving.cors;
  // No content security policy: GraphiQL (development mode) loads its page's scripts from a CDN.
  const headers = secureHeaders();
  const crossOrigin =
    origins.length === 0
      ? undefined
      : origins[0] === '*'
        ? cors({ origin: '*', exposeHeaders: ['Retry-After'] })
        : cors({ origin: [...origins], credentials: true, exposeHeaders: ['Retry-After'] });
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw payloadTooLarge(maxBytes);
    },
  });

  // The headers the middleware gives an empty response, per origin (the configured ones, and any other), worked
  // out once and given to every response before its handler makes it: a header set on a finished response
  // (as hono's secureHeaders does) turns @hono/node-server's light response into a full one, at a third of REST's
  // throughput.
  const probe = async (withCors: boolean, origin?: string) => {
    const app = new Hono();
    app.use(headers);
    if (withCors && crossOrigin) app.use(crossOrigin);
    app.get('/', (c) => c.body(null, 204));
    return [...(await app.request('/', origin ? { headers: { origin } } : {})).headers.entries()] as Array<readonly [string, string]>;
  };
  const secure = await probe(false);
  const otherOrigins = await probe(true);
  const byOrigin = new Map<string, ReadonlyArray<readonly [string, string]>>();
  for (const origin of origins) if (origin !== '*') byOrigin.set(origin, await probe(true, origin));
  const [marker] = secure[0] ?? [];
  const secureHeadersOnce: MiddlewareHandler = async (c, next) => {
    for (const [name, value] of secure) c.header(name, value);
    await next();
    // A response not made through the context (yoga's, an error's) has not got them yet.
    if (marker !== undefined && !c.res.headers.has(marker)) for (const [name, value] of secure) c.res.headers.set(name, value);
  };
  // Only a request that may carry a body is measured against the limit.
  const limitBodies: MiddlewareHandler = (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limit(c, next));
  const middleware = [secureHeadersOnce, ...(crossOrigin ? [crossOrigin] : []), limitBodies];

  const headersFor = (origin: string | undefined) => (origin === undefined ? undefined : byOrigin.get(origin)) ?? otherOrigins;

  return {
    middleware,
    headersFor,
    checkBody(request) {
      // Without Transfer-Encoding a body is as long as its Content-Length says (Node holds the client to it), or empty.
      if (request.headers['transfer-encoding'] === undefined) {
        return Number(request.headers['content-length'] ?? 0) > maxBytes ? Promise.reject(payloadTooLarge(maxBytes)) : Promise.resolve(undefined);
      }
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const onData = (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            // Stop reading here: the refusal closes the connection.
            request.off('data', onData).off('end', onEnd).pause();
            reject(payloadTooLarge(maxBytes));
          } else chunks.push(chunk);
        };
        const onEnd = () => resolve(Buffer.concat(chunks, size));
        request.on('data', onData).once('end', onEnd).once('error', reject);
      });
    },
    refuseGraphQL(response, error) {
      const { message, ...extensions } = publicError(error);
      // The connection closes after the answer, so a body not read is never read.
      response.writeHead(httpStatusOf(error.code), { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      response.end(JSON.stringify({ errors: [{ message, extensions }] }));
    },
  };
}
