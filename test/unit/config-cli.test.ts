import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const run = promisify(execFile);

describe('npx braid config', { timeout: 60_000 }, () => {
  it('prints the configuration with serving.auth.jwtSecret and the Redis password as ***', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'braid-config-cli-'));
    const env = {
      ...process.env,
      BRAID_LOG_LEVEL: 'warn',
      BRAID_CONFIG: '',
      KAFKA_BROKERS: '127.0.0.1:1',
      REDIS_URL: 'redis://braid:hunter2-redis-password@cache.internal:6379',
      BRAID_JWT_SECRET: 'jwt-secret-hunter2-at-least-32-characters',
    };
    const { stdout } = await run(process.execPath, [BRAID, 'config'], { cwd, env, timeout: 60_000 });
    const printed = JSON.parse(stdout) as { redis: { url: string }; serving: { auth: { jwtSecret: string } }; kafka: { brokers: string[] } };
    expect(printed.serving.auth.jwtSecret).toBe('***');
    expect(printed.redis.url).toBe('redis://braid:***@cache.internal:6379');
    expect(printed.kafka.brokers).toEqual(['127.0.0.1:1']);
    expect(stdout).not.toMatch(/hunter2/);
  });

  it('prints secrets read from files and environment variables as ***: Kafka\'s SASL password, Redis\'s password, the JWT secret', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'braid-config-cli-'));
    writeFileSync(path.join(cwd, 'redis-password'), 'hunter2-redis-password\n');
    writeFileSync(path.join(cwd, 'jwt-secret'), 'jwt-secret-hunter2-at-least-32-characters\n');
    writeFileSync(
      path.join(cwd, 'braid.config.yaml'),
      `kafka:
  brokers: [kafka.internal:9093]
  ssl: true
  sasl: { mechanism: scram-sha-512, username: braid, password: env:KAFKA_PASSWORD }
redis:
  url: rediss://cache.internal:6380
  password: file:redis-password
`,
    );
    const env = { ...process.env, BRAID_LOG_LEVEL: 'warn', BRAID_CONFIG: '', KAFKA_BROKERS: '', REDIS_URL: '', KAFKA_PASSWORD: 'hunter2-kafka-password', BRAID_JWT_SECRET: 'file:jwt-secret' };
    const { stdout } = await run(process.execPath, [BRAID, 'config'], { cwd, env, timeout: 60_000 });
    const printed = JSON.parse(stdout) as { kafka: { sasl: Record<string, string>; ssl: unknown }; redis: { url: string; password: string }; serving: { auth: { jwtSecret: string } } };
    expect(printed.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'braid', password: '***' });
    expect(printed.kafka.ssl).toEqual({ rejectUnauthorized: true });
    expect(printed.redis).toMatchObject({ url: 'rediss://cache.internal:6380', password: '***' });
    expect(printed.serving.auth.jwtSecret).toBe('***');
    expect(stdout).not.toMatch(/hunter2/);
  });
});
