import { Redis } from 'ioredis';

/**
 * An ioredis client for the configured URL. Commands wait (bounded) for a
 * reconnect instead of failing at the first blip.
 */
export function createRedisClient(url: string, options: { lazyConnect?: boolean; name?: string } = {}): Redis {
  return new Redis(url, {
    lazyConnect: options.lazyConnect ?? false,
    connectionName: options.name ?? 'braid',
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
  });
}
