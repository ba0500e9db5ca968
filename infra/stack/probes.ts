import { createKafkaClient, createRedisClient } from '../../shared/clients/index.ts';
import { createLogger } from '../../shared/logging/index.ts';

const silent = createLogger({ level: 'silent', name: 'probe' });

/** True if the brokers answer a metadata request within about `timeoutMs`. */
export async function kafkaAnswers(brokers: string[], timeoutMs = 3_000): Promise<boolean> {
  const admin = createKafkaClient({ brokers, clientId: 'braid-probe', logger: silent, connectionRetries: 0 }).admin({
    retry: { retries: 0 },
  });
  try {
    await withTimeout(
      (async () => {
        await admin.connect();
        await admin.describeCluster();
      })(),
      timeoutMs,
    );
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True if Redis at `url` answers PING within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 2_000): Promise<boolean> {
  const redis = createRedisClient(url, { lazyConnect: true, name: 'braid-probe' });
  redis.on('error', () => undefined);
  try {
    await withTimeout(
      (async () => {
        await redis.connect();
        await redis.ping();
      })(),
      timeoutMs,
    );
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
