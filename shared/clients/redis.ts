import { Redis } from 'ioredis';

/**
 * An ioredis client for the configured URL. Commands wait (bounded) for a
 * reconnect instead of failing at the first blip.
 */
export function createRedisClient(url: string, options: { lazyConnect?: boolean; name?: string; autoPipelining?: boolean } = {}): Redis {
  return quietOnReconnect(new Redis(url, {
    lazyConnect: options.lazyConnect ?? false,
    connectionName: options.name ?? 'braid',
    maxRetriesPerRequest: 3,
    // Off by default: ioredis 6's auto-pipelining breaks ("results[i] is not iterable") when
    // concurrent EVALSHA calls of a defined script fall back after NOSCRIPT in one pipeline.
    enableAutoPipelining: options.autoPipelining ?? false,
  }));
}

/**
 * A client whose connection errors are not printed as "unhandled": ioredis reconnects by itself, and a command that
 * cannot wait any longer rejects, where its caller reports it.
 */
export function quietOnReconnect(client: Redis): Redis {
  client.on('error', () => undefined);
  return client;
}
