import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../shared/config/index.ts';
import { stackDown, stackUp } from '../../infra/stack/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    redisUrl: string;
  }
}

/**
 * Integration tests get Kafka and Redis exactly as `npx braid stack up` does:
 * KAFKA_BROKERS / REDIS_URL if set, else the local stack (reused if it runs,
 * started if not). What this setup started, it stops again at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const started = Date.now();
  const stack = await stackUp(config, (message) => process.stderr.write(`[test stack] ${message}\n`));
  process.stderr.write(
    `[test stack] kafka ${stack.kafkaBrokers.join(',')} (${stack.kafka}), redis ${stack.redisUrl} (${stack.redis}) in ${Date.now() - started} ms\n`,
  );
  project.provide('kafkaBrokers', stack.kafkaBrokers);
  project.provide('redisUrl', stack.redisUrl);
  return async () => {
    const ours = (['kafka', 'redis'] as const).filter((name) => stack[name] === 'started');
    if (ours.length > 0) await stackDown(config, (message) => process.stderr.write(`[test stack] ${message}\n`), ours);
  };
}
