import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { loadConfig, redactedConfig, redactUrl, sourceSettings } from '../../shared/config/index.ts';

function folderWith(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braid-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function configError(run: () => unknown): BraidError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    return error as BraidError;
  }
  throw new Error('expected a config error');
}

describe('loadConfig', () => {
  it('fills every default, including settings for every known source', () => {
    const cwd = folderWith();
    const config = loadConfig({ env: {}, cwd });
    expect(config.log.level).toBe('info');
    expect(config.dataDir).toBe(path.join(cwd, 'data'));
    expect(config.stack.dir).toBe(path.join(cwd, '.braid'));
    expect(config.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(config.kafka.brokersFrom).toBe('default');
    expect(config.redis.url).toBe('redis://127.0.0.1:16379');
    expect(sourceSettings(config, 'clickstream')).toEqual({ partitions: 4, maxOutOfOrdernessMs: 5_000, idleTimeoutMs: 30_000 });
  });

  it('reads braid.config.yaml and lets the environment override it', () => {
    const cwd = folderWith({
      'braid.config.yaml': 'kafka:\n  brokers: [kafka-a:9092, kafka-b:9092]\nlog:\n  level: debug\nsources:\n  clickstream:\n    maxOutOfOrdernessMs: 10s\n',
    });
    const fromFile = loadConfig({ env: {}, cwd });
    expect(fromFile.kafka.brokers).toEqual(['kafka-a:9092', 'kafka-b:9092']);
    expect(fromFile.kafka.brokersFrom).toBe('file');
    expect(fromFile.log.level).toBe('debug');
    expect(sourceSettings(fromFile, 'clickstream').maxOutOfOrdernessMs).toBe(10_000);

    const overridden = loadConfig({ env: { KAFKA_BROKERS: 'env-kafka:9092', BRAID_LOG_LEVEL: 'warn' }, cwd });
    expect(overridden.kafka.brokers).toEqual(['env-kafka:9092']);
    expect(overridden.kafka.brokersFrom).toBe('env');
    expect(overridden.log.level).toBe('warn');
  });

  it('names the key and the environment variable of a bad value', () => {
    const error = configError(() => loadConfig({ env: { BRAID_LOG_LEVEL: 'loud' }, cwd: folderWith() }));
    expect(error.message).toMatch(/log\.level \(from env BRAID_LOG_LEVEL\)/);
    expect(error.message).toMatch(/fatal.*error.*warn.*info/);
  });

  it('names the key and the file of a bad value, and the expected form', () => {
    const cwd = folderWith({ 'braid.config.yaml': 'kafka:\n  brokers: ["no-port"]\n' });
    const error = configError(() => loadConfig({ env: {}, cwd }));
    expect(error.message).toMatch(/kafka\.brokers\.0 \(from braid\.config\.yaml\): expected host:port/);
  });

  it('reports every problem at once, unknown keys and source declarations included', () => {
    const cwd = folderWith({
      'braid.config.yaml': 'kafka:\n  borkers: [a:1]\nserving:\n  port: 99999\nsources:\n  orders:\n    fields: { ts: { type: timestampMs }, id: { type: uuid } }\n    timeField: ts\n    keyFields: [id]\n  clickstream:\n    idleTimeoutMs: soon\n',
    });
    const error = configError(() => loadConfig({ env: { BRAID_METRICS_PORT: 'abc' }, cwd }));
    expect(error.message).toMatch(/kafka\.borkers .*unknown key/);
    expect(error.message).toMatch(/serving\.port .*65535/);
    expect(error.message).toMatch(/metrics\.port \(from env BRAID_METRICS_PORT\)/);
    expect(error.message).toMatch(/sources\.orders \(from braid\.config\.yaml\): fields\.id\.type: expected one of string, int, float, bool, timestampMs/);
    expect(error.message).toMatch(/sources\.clickstream\.idleTimeoutMs .*expected a duration/);
  });

  it('rejects a Kafka version outside 3.9.x, saying why', () => {
    const cwd = folderWith({ 'braid.config.yaml': 'stack:\n  kafkaVersion: 4.0.0\n' });
    expect(configError(() => loadConfig({ env: {}, cwd })).message).toMatch(/stack\.kafkaVersion.*3\.9\.x.*kafkajs/);
  });

  it('fails clearly on a missing explicit file and on invalid YAML', () => {
    const cwd = folderWith({ 'broken.yaml': 'kafka: [unclosed\n' });
    expect(configError(() => loadConfig({ env: { BRAID_CONFIG: 'nope.yaml' }, cwd })).message).toMatch(/nope\.yaml does not exist/);
    expect(configError(() => loadConfig({ env: {}, cwd, configFile: 'broken.yaml' })).message).toMatch(/not valid YAML/);
  });

  it('finds the local stack\'s ports in its state file when no endpoint is configured', () => {
    const cwd = folderWith();
    const stackDir = path.join(cwd, '.braid');
    mkdirSync(stackDir);
    writeFileSync(
      path.join(stackDir, 'stack.json'),
      JSON.stringify({ kafka: { pid: 1, port: 23456, controllerPort: 23457, clusterId: 'x', version: '3.9.1', workDir: '/x', logFile: '/x', startedAt: '' }, redis: { pid: 2, port: 34567, workDir: '/y', logFile: '/y', startedAt: '' } }),
    );
    const config = loadConfig({ env: {}, cwd });
    expect(config.kafka.brokers).toEqual(['127.0.0.1:23456']);
    expect(config.kafka.brokersFrom).toBe('stack');
    expect(config.redis.url).toBe('redis://127.0.0.1:34567');
  });
});

describe('serving HTTP settings', () => {
  it('default to no trusted proxy, no CORS and 1 MiB bodies', () => {
    const config = loadConfig({ env: {}, cwd: folderWith() });
    expect(config.serving.trustProxy).toBe(false);
    expect(config.serving.cors.origins).toEqual([]);
    expect(config.serving.limits.maxBodyBytes).toBe(1_048_576);
  });

  it('take origins as scheme and host, or * alone', () => {
    const cwd = folderWith();
    expect(loadConfig({ env: {}, cwd, overrides: { 'serving.cors.origins': ['https://dashboards.example', 'http://localhost:5173'] } }).serving.cors.origins).toHaveLength(2);
    expect(configError(() => loadConfig({ env: {}, cwd, overrides: { 'serving.cors.origins': ['dashboards.example'] } })).message).toMatch(/serving\.cors\.origins.*expected an origin/s);
    expect(configError(() => loadConfig({ env: {}, cwd, overrides: { 'serving.cors.origins': ['https://a.example/app'] } })).message).toMatch(/expected an origin/);
    expect(configError(() => loadConfig({ env: {}, cwd, overrides: { 'serving.cors.origins': ['*', 'https://a.example'] } })).message).toMatch(/\* stands alone/);
  });
});

describe('redactedConfig', () => {
  const JWT_SECRET = 'a-jwt-secret-that-is-at-least-32-characters';

  it('shows serving.auth.jwtSecret and the password of redis.url as ***, the rest as it is, and leaves the config alone', () => {
    const config = loadConfig({ env: { REDIS_URL: 'redis://braid:hunter2@cache.internal:6379/2', BRAID_JWT_SECRET: JWT_SECRET }, cwd: folderWith() });
    const shown = redactedConfig(config);
    expect(shown.serving.auth.jwtSecret).toBe('***');
    expect(shown.redis.url).toBe('redis://braid:***@cache.internal:6379/2');
    expect(JSON.stringify(shown)).not.toMatch(/hunter2|a-jwt-secret/);
    expect(shown.kafka).toEqual(config.kafka);
    expect(shown.serving.limits).toEqual(config.serving.limits);
    expect(shown.dataDir).toBe(config.dataDir);
    expect(config.serving.auth.jwtSecret).toBe(JWT_SECRET);
  });

  it('leaves an unset secret unset', () => {
    expect(redactedConfig(loadConfig({ env: {}, cwd: folderWith() })).serving.auth.jwtSecret).toBeUndefined();
  });
});

describe('redactUrl', () => {
  it.each([
    ['redis://:hunter2@cache:6379', 'redis://:***@cache:6379'],
    ['rediss://user:p%40ss@cache.internal:6380/1', 'rediss://user:***@cache.internal:6380/1'],
    ['redis://cache:6379?password=hunter2&db=2', 'redis://cache:6379?password=***&db=2'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['redis://user@cache:6379', 'redis://user@cache:6379'],
    ['127.0.0.1:9092', '127.0.0.1:9092'],
    ['not a url', 'not a url'],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});
