import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { BraidError, ErrorCode } from '../errors/index.ts';

export interface MetricsServer {
  /** e.g. http://127.0.0.1:43121/metrics */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves a registry on `GET /metrics` (Prometheus text format) and `GET /healthz`.
 * Port 0 picks a free port; read it back from `url`.
 */
export async function startMetricsServer(options: { registry: Registry; host: string; port: number }): Promise<MetricsServer> {
  const { registry } = options;
  const server: Server = createServer((request, response) => {
    if (request.url === '/metrics' || request.url?.startsWith('/metrics?')) {
      registry
        .metrics()
        .then((text) => {
          response.writeHead(200, { 'content-type': registry.contentType });
          response.end(text);
        })
        .catch((error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`metrics failed: ${(error as Error).message}`);
        });
      return;
    }
    if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('ok');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found: try /metrics');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new BraidError(ErrorCode.PORT_IN_USE, `metrics port ${options.port} is in use`, {
              cause: error,
              fields: { port: options.port },
              hint: 'set metrics.port (BRAID_METRICS_PORT) to a free port, or 0 for any free port',
            })
          : error,
      );
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
