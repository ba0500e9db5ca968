import { createKafkaClient, createRedisClient, type KafkaConnection, type RedisConnection } from '../../shared/clients/index.ts';
import { connectionRefusal, type BraidError } from '../../shared/errors/index.ts';
import { createLogger } from '../../shared/logging/index.ts';

const silent = createLogger({ level: 'silent', name: 'probe' });

/** Whether a server answered, and if it turned the connection down (TLS, credentials), why. */
export interface ProbeResult {
  readonly answers: boolean;
  readonly refusal?: BraidError;
}

/** True if the brokers answer a metadata request within about `timeoutMs`. */
export async function kafkaAnswers(brokers: string[], timeoutMs = 3_000): Promise<boolean> {
  return (await probeKafka({ brokers }, timeoutMs)).answers;
}

/** Whether Kafka, connected to with its TLS and SASL settings, answers a metadata request within about `timeoutMs`. */
export async function probeKafka(connection: KafkaConnection, timeoutMs = 3_000): Promise<ProbeResult> {
  const admin = createKafkaClient({ ...connection, clientId: 'braid-probe', logger: silent, connectionRetries: 0 }).admin({
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
    return { answers: true };
  } catch (error) {
    return refused(connectionRefusal(error, 'kafka'));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True if Redis (a URL, or `config.redis` with its credentials and TLS settings) answers PING within `timeoutMs`. */
export async function redisAnswers(connection: RedisConnection, timeoutMs = 2_000): Promise<boolean> {
  return (await probeRedis(connection, timeoutMs)).answers;
}

/** Whether Redis answers PING within `timeoutMs`. */
export async function probeRedis(connection: RedisConnection, timeoutMs = 2_000): Promise<ProbeResult> {
  const redis = createRedisClient(connection, { lazyConnect: true, name: 'braid-probe' });
  // A refused connection is reported as an 'error' event; the command itself only runs out of retries.
  let refusal: BraidError | undefined;
  redis.on('error', (error: Error) => (refusal ??= connectionRefusal(error, 'redis')));
  try {
    await withTimeout(
      (async () => {
        await redis.connect();
        await redis.ping();
      })(),
      timeoutMs,
    );
    return { answers: true };
  } catch (error) {
    return refused(refusal ?? connectionRefusal(error, 'redis'));
  } finally {
    redis.disconnect();
  }
}

function refused(refusal: BraidError | undefined): ProbeResult {
  return refusal === undefined ? { answers: false } : { answers: false, refusal };
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
