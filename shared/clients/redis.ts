import { Redis, type RedisOptions } from 'ioredis';
import type { TlsSettings } from '../config/index.ts';
import { connectionRefusal } from '../errors/index.ts';

/** Where Redis is and how to connect to it: `config.redis` is one, and so is a bare URL. */
export type RedisConnection =
  | string
  | {
      /** `redis://` or `rediss://` (TLS) URL; it may carry a user and password. */
      readonly url: string;
      /** ACL user and password, when the URL does not carry them. */
      readonly username?: string | undefined;
      readonly password?: string | undefined;
      /** TLS settings of a `rediss://` URL. */
      readonly tls?: TlsSettings | undefined;
    };

export interface RedisClientOptions {
  lazyConnect?: boolean;
  name?: string;
  autoPipelining?: boolean;
  /** How many reconnects a command waits through before it fails; `null` waits for ever (what BullMQ needs). Default 3. */
  maxRetriesPerRequest?: number | null;
}

/**
 * An ioredis client for the configured Redis (URL, credentials, TLS). Commands wait (bounded) for a reconnect
 * instead of failing at the first blip.
 *
 * @example
 * const redis = createRedisClient(config.redis, { name: 'braid-query' });
 */
export function createRedisClient(connection: RedisConnection, options: RedisClientOptions = {}): Redis {
  const { url, username, password, tls } = typeof connection === 'string' ? { url: connection } : connection;
  return quietOnReconnect(
    new Redis(url, {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(tls === undefined ? {} : { tls: { ...tls } }),
      lazyConnect: options.lazyConnect ?? false,
      connectionName: options.name ?? 'braid',
      maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
      // Off by default: ioredis 6's auto-pipelining breaks ("results[i] is not iterable") when
      // concurrent EVALSHA calls of a defined script fall back after NOSCRIPT in one pipeline.
      enableAutoPipelining: options.autoPipelining ?? false,
    } satisfies RedisOptions),
  );
}

/**
 * A client as {@link createRedisClient} makes it, once it is connected. A Redis that refuses the connection
 * (a certificate that does not verify, a wrong password, TLS to a plaintext port) fails here with a
 * REDIS_UNREACHABLE error that says so and names the keys to check, where a command would only report that it
 * ran out of retries. A Redis that does not answer yet is left to reconnect, as commands have always waited.
 *
 * @example
 * const redis = await connectRedis(config.redis, { name: 'braid-serve' });
 */
export async function connectRedis(connection: RedisConnection, options: RedisClientOptions = {}): Promise<Redis> {
  const client = createRedisClient(connection, options);
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      client.off('ready', onReady);
      client.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => settle();
    const onError = (error: Error) => {
      const refusal = connectionRefusal(error, 'redis');
      if (refusal === undefined) return settle();
      client.disconnect();
      settle(refusal);
    };
    client.on('ready', onReady);
    client.on('error', onError);
    if (options.lazyConnect) client.connect().catch(() => undefined);
  });
  return client;
}

/**
 * A client whose connection errors are not printed as "unhandled": ioredis reconnects by itself, and a command that
 * cannot wait any longer rejects, where its caller reports it.
 */
export function quietOnReconnect(client: Redis): Redis {
  client.on('error', () => undefined);
  return client;
}
