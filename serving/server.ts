import { createServer, STATUS_CODES, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { getRequestListener } from '@hono/node-server';
import type { Config } from '../shared/config/index.ts';
import { connectRedis, createKafkaClient } from '../shared/clients/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import { createMetricsRegistry, type Registry } from '../shared/metrics/index.ts';
import type { ViewRegistry } from '../shared/views/index.ts';
import type { WorkflowCatalog } from '../workflows/index.ts';
import { createServingApp, type ServingApp } from './app.ts';

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly serving: ServingApp;
  /** Stops accepting requests, lets those in flight finish, then closes the clients. */
  close(): Promise<void>;
}

/**
 * Starts `braid serve`: the serving app on serving.host:serving.port (0 picks
 * a free port; read `url`), with its own Redis clients and a Kafka client for
 * readiness; given the workflows, also /v1/workflows.
 *
 * @example
 * const server = await startServer({ config, views, workflows, logger });
 * console.log(`${server.url}/graphql`);
 * await server.close();
 */
export async function startServer(options: { config: Config; views: ViewRegistry; workflows?: WorkflowCatalog; logger: Logger; registry?: Registry }): Promise<RunningServer> {
  const { config, views, logger } = options;
  const [redis, subscriber] = await connectBoth(
    connectRedis(config.redis, { name: 'braid-serve' }),
    connectRedis(config.redis, { name: 'braid-serve-updates' }),
  );
  const kafka = createKafkaClient({ ...config.kafka, clientId: `${config.kafka.clientId}-serve`, logger, connectionRetries: 0 });
  const registry = options.registry ?? createMetricsRegistry('serve');
  const serving = await createServingApp({ config, views, redis, subscriber, kafka, registry, logger, workflows: options.workflows });
  // /graphql goes to yoga on Node's own request (a fetch-API Request in between cost about a third of
  // GraphQL's throughput); everything else, CORS preflights of /graphql included, to the hono app.
  const rest = getRequestListener(serving.app.fetch);
  const server = createServer((request, response) => {
    const graphql = request.url === '/graphql' || request.url?.startsWith('/graphql?');
    if (graphql && request.method !== 'OPTIONS') serving.handleGraphQL(request, response);
    else void rest(request, response);
  });
  server.on('clientError', refuseUnreadable);
  await new Promise<void>((resolve, reject) => {
    server.listen(config.serving.port, config.serving.host, () => resolve());
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new BraidError(ErrorCode.PORT_IN_USE, `serving port ${config.serving.port} is in use`, {
              cause: error,
              fields: { key: 'serving.port' },
              hint: 'set serving.port (BRAID_SERVING_PORT) to a free port, or 0 for any free port',
            })
          : error,
      ),
    );
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.serving.host.includes(':') ? `[${config.serving.host}]` : config.serving.host}:${port}`;
  return {
    url,
    serving,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open SSE streams never end by themselves.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      await serving.close();
      subscriber.disconnect();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Both clients, once both are connected; if one is refused, the other is closed and its error thrown. */
async function connectBoth(first: Promise<Redis>, second: Promise<Redis>): Promise<[Redis, Redis]> {
  const [one, two] = await Promise.allSettled([first, second]);
  if (one.status === 'fulfilled' && two.status === 'fulfilled') return [one.value, two.value];
  for (const outcome of [one, two]) if (outcome.status === 'fulfilled') outcome.value.disconnect();
  throw one.status === 'rejected' ? one.reason : (two as PromiseRejectedResult).reason;
}

/**
 * Answers a request Node's parser refuses before the app sees it (headers past Node's 16 KiB, a method or request
 * line it cannot read) as Node would, 431 or 400 and the connection closed, but with an error body with a code. The
 * path is not known yet, so the body has the REST shape (`error`) and the GraphQL one (`errors`).
 */
function refuseUnreadable(error: NodeJS.ErrnoException, socket: Socket): void {
  // As Node's own answer: never into a response already on its way (pipelined requests), nor onto a closed socket.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, ErrorCode.LIMIT_EXCEEDED, 'the request’s headers are larger than the server reads']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, ErrorCode.TIMEOUT, 'the request did not arrive in time']
        : [400, ErrorCode.BAD_ARGUMENT, `the request is not HTTP the server can read (${error.code ?? 'malformed'})`];
  const body = JSON.stringify({ error: { code, message }, errors: [{ message, extensions: { code } }] });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
