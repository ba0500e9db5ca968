import { Redis } from 'ioredis';

/**
 * An ioredis client for the configured URL. Commands wait (bounded) for a
 * reconnect instead of failing at the first blip.
 */
export function createRedisClient(url: string, options: { lazyConnect?: boolean; name?: string; autoPipelining?: boolean } = {}): Redis {
  return new Redis(url, {
    lazyConnect: options.lazyConnect ?? false,
    connectionName: options.name ?? 'braid',
    maxRetriesPerRequest: 3,
    // Off by default: ioredis 6's auto-pipelining breaks ("results[i] is not iterable") when
    // concurrent EVALSHA calls of a defined script fall back after NOSCRIPT in one pipeline.
    enableAutoPipelining: options.autoPipelining ?? false,
  });
}
