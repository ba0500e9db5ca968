import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, createKafkaClient, createProducer } from '../../shared/clients/index.ts';
import { loadConfig, type Config } from '../../shared/config/index.ts';
import { BraidError, ErrorCode, toBraidError } from '../../shared/errors/index.ts';
import { defaultCacheDir, probeKafka, probeRedis, redisUp } from '../../infra/stack/index.ts';
import { startKafkaBroker } from '../../infra/stack/kafka-broker.ts';
import { ensureKafkaJars } from '../../infra/stack/kafka-jars.ts';
import { pickFreePort } from '../../infra/stack/ports.ts';
import { isAlive, stopProcess } from '../../infra/stack/processes.ts';
import { hashApiKey, ServingKeys } from '../../serving/index.ts';
import { makeCertificates, type TestCertificates } from '../harness/certificates.ts';
import { createTopic, deleteTopics, tempDir, topicMessageCount, uniqueName, waitFor, waitForMessages } from '../harness/index.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const run = promisify(execFile);

/** Runs the braid CLI in `cwd` with only that folder's braid.config.yaml and `env` configuring it. */
async function braid(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const cleared = { BRAID_CONFIG: '', KAFKA_BROKERS: '', REDIS_URL: '', BRAID_JWT_SECRET: '', BRAID_LOG_LEVEL: 'warn' };
  try {
    const { stdout, stderr } = await run(process.execPath, [BRAID, ...args], { cwd, env: { ...process.env, ...cleared, ...env }, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Configuration as `braid.config.yaml` in `cwd` holding `yaml`, and `env`, make it. */
function configIn(cwd: string, yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  writeFileSync(path.join(cwd, 'braid.config.yaml'), yaml);
  return loadConfig({ env, cwd });
}

async function refusalOf(work: Promise<unknown>): Promise<BraidError> {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(BraidError);
  return error as BraidError;
}

describe('Redis with a password, TLS and a client certificate', () => {
  const REDIS_PASSWORD = 'redis-hunter2-password';
  const dir = tempDir('braid-redis-tls-');
  let certificates: TestCertificates;
  let port: number;
  let server: ChildProcess | undefined;

  /** redis: settings of a braid.config.yaml for the test server; `tls` and `password` replace the working ones. */
  const redisYaml = (overrides: { tls?: string; password?: string } = {}) => `redis:
  url: rediss://127.0.0.1:${port}
  keyPrefix: '${uniqueName('braid-test')}:'
  password: ${overrides.password ?? 'file:redis-password'}
  tls: ${overrides.tls ?? '{ ca: file:ca.pem, cert: file:client.pem, key: file:client.key }'}
`;

  beforeAll(async () => {
    certificates = makeCertificates(dir.path);
    writeFileSync(path.join(dir.path, 'redis-password'), `${REDIS_PASSWORD}\n`);
    port = await pickFreePort();
    server = spawn(
      'redis-server',
      [
        '--port', '0',
        '--tls-port', String(port),
        '--tls-cert-file', certificates.serverCertFile,
        '--tls-key-file', certificates.serverKeyFile,
        '--tls-ca-cert-file', certificates.caFile,
        '--tls-auth-clients', 'yes',
        '--requirepass', REDIS_PASSWORD,
        '--bind', '127.0.0.1',
        '--dir', dir.path,
        '--save', '',
        '--appendonly', 'no',
      ],
      { stdio: 'ignore' },
    );
    const config = configIn(dir.path, redisYaml());
    await waitFor(async () => (await probeRedis(config.redis)).answers, { timeoutMs: 20_000, what: `redis-server with TLS on port ${port}` });
  });

  afterAll(async () => {
    if (server?.pid !== undefined) await stopProcess(server.pid, 10_000);
    dir[Symbol.dispose]();
  });

  it('is written and read through Braid\'s client, the password and certificates read from files, and `apikey create --store redis` stores through it', async () => {
    const config = configIn(dir.path, redisYaml());
    const redis = await connectRedis(config.redis, { name: 'braid-test' });
    try {
      const key = `${config.redis.keyPrefix}greeting`;
      await redis.set(key, 'hello over TLS', 'EX', 60);
      expect(await redis.get(key)).toBe('hello over TLS');

      const created = await braid(dir.path, ['apikey', 'create', '--name', 'ops', '--roles', 'admin', '--store', 'redis']);
      expect(created.stderr).toMatch(/stored the hash of ops's key in Redis/);
      expect(created.code).toBe(0);
      const apiKey = created.stdout.trim();
      expect(JSON.parse((await redis.hget(new ServingKeys(config.redis.keyPrefix).apiKeys(), hashApiKey(apiKey))) ?? 'null')).toEqual({ name: 'ops', roles: ['admin'] });
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a wrong password with an error naming the keys to check, by the client, `stack up` and a command alike, never showing the password', async () => {
    const config = configIn(dir.path, redisYaml({ password: 'env:REDIS_PASSWORD' }), { REDIS_PASSWORD: 'wrong-hunter2-password' });
    for (const error of [await refusalOf(connectRedis(config.redis)), await refusalOf(redisUp(config))]) {
      expect(error.code).toBe(ErrorCode.REDIS_UNREACHABLE);
      expect(error.retriable).toBe(false);
      expect(error.message).toMatch(/^Redis refused Braid's credentials: WRONGPASS/);
      expect(error.hint).toMatch(/redis\.password/);
    }
    const command = await braid(dir.path, ['apikey', 'create', '--name', 'ops', '--roles', 'admin', '--store', 'redis'], { REDIS_PASSWORD: 'wrong-hunter2-password' });
    expect(command.code).toBe(1);
    expect(command.stderr).toMatch(/^braid: Redis refused Braid's credentials: WRONGPASS/);
    expect(command.stderr).not.toMatch(/hunter2|\n\s+at /);
  });

  it('refuses a server certificate the configured CA did not sign, and lets no client in without the certificate the server asks for', async () => {
    const untrusted = await refusalOf(connectRedis(configIn(dir.path, redisYaml({ tls: '{ ca: file:other-ca.pem, cert: file:client.pem, key: file:client.key }' })).redis));
    expect(untrusted.code).toBe(ErrorCode.REDIS_UNREACHABLE);
    expect(untrusted.message).toMatch(/^Redis's TLS certificate is not trusted: self[- ]signed certificate in certificate chain/);
    expect(untrusted.hint).toMatch(/redis\.tls\.ca names the CA/);

    // Under TLS 1.3 the server turns a missing client certificate down after the handshake, so the client sees the
    // alert or only a reset connection, by chance; either way it is not let in.
    expect((await probeRedis(configIn(dir.path, redisYaml({ tls: '{ ca: file:ca.pem }' })).redis)).answers).toBe(false);
  });
});

describe('Kafka with TLS and SASL/SCRAM', () => {
  const KAFKA_PASSWORD = 'kafka-hunter2-password';
  const dir = tempDir('braid-kafka-sasl-ssl-');
  let brokerPid: number | undefined;
  let brokers: string;

  /** kafka: settings of a braid.config.yaml for the test broker. */
  const kafkaYaml = (overrides: { ssl?: string; mechanism?: string } = {}) => `kafka:
  brokers: [${brokers}]
  ssl: ${overrides.ssl ?? '{ ca: file:ca.pem }'}
  sasl: { mechanism: ${overrides.mechanism ?? 'SCRAM-SHA-512'}, username: braid, password: env:KAFKA_PASSWORD }
`;

  beforeAll(async () => {
    const certificates = makeCertificates(dir.path);
    const jarsDir = await ensureKafkaJars({ version: '3.9.1', cacheDir: loadConfig().stack.cacheDir ?? defaultCacheDir(), report: () => undefined });
    const port = await pickFreePort();
    let controllerPort = await pickFreePort();
    while (controllerPort === port) controllerPort = await pickFreePort();
    brokers = `127.0.0.1:${port}`;
    const home = path.join(dir.path, 'kafka');
    const started = startKafkaBroker({
      home,
      jarsDir,
      port,
      controllerPort,
      heapMb: 384,
      security: {
        keystorePem: certificates.serverKeystoreFile,
        truststorePem: certificates.caFile,
        scramUsers: [{ mechanism: 'SCRAM-SHA-512', username: 'braid', password: KAFKA_PASSWORD }],
      },
    });
    brokerPid = started.pid;
    const config = configIn(dir.path, kafkaYaml(), { KAFKA_PASSWORD });
    await waitFor(
      async () => {
        if (!isAlive(started.pid)) throw new Error(`the broker exited; see ${started.logFile}`);
        return (await probeKafka(config.kafka)).answers;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: `Kafka with SASL_SSL on ${brokers}` },
    );
  });

  afterAll(async () => {
    if (brokerPid !== undefined) await stopProcess(brokerPid, 30_000);
    dir[Symbol.dispose]();
  });

  it('carries messages both ways through Braid\'s client (TLS, SCRAM-SHA-512, the password from an environment variable), and `produce` sends through it, logging no secret', async () => {
    const config = configIn(dir.path, kafkaYaml(), { KAFKA_PASSWORD });
    const logLines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    const kafka = createKafkaClient({ ...config.kafka, clientId: uniqueName('braid-test'), logger });
    await using topic = await createTopic(kafka, { prefix: 'secure' });
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      await producer.send({ topic: topic.topic, messages: ['one', 'two', 'three'].map((value) => ({ key: value, value })) });
    } finally {
      await producer.disconnect();
    }
    expect((await waitForMessages(kafka, topic.topic, 3)).map((message) => message.value).sort()).toEqual(['one', 'three', 'two']);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('')).not.toContain(KAFKA_PASSWORD);

    const demoTopic = uniqueName('secure-demo');
    try {
      const produced = await braid(dir.path, ['produce', 'clickstream', '--count', '50', '--rate', 'max', '--topic', demoTopic], { KAFKA_PASSWORD, BRAID_LOG_LEVEL: 'debug' });
      expect(produced.code, produced.stderr).toBe(0);
      expect(produced.stderr).toMatch(/"component":"kafkajs"/);
      expect(produced.stderr).not.toContain(KAFKA_PASSWORD);
      expect(await topicMessageCount(kafka, demoTopic)).toBe(50);
    } finally {
      await deleteTopics(kafka, [demoTopic]);
    }
  });

  it('refuses a wrong password, a mechanism the broker does not offer, and an untrusted certificate, each with an error naming the keys to check', async () => {
    const wrongPassword = configIn(dir.path, kafkaYaml(), { KAFKA_PASSWORD: 'wrong-hunter2-password' });
    const admin = createKafkaClient({ ...wrongPassword.kafka, clientId: uniqueName('braid-test'), logger: pino({ level: 'silent' }) }).admin();
    const thrown = await admin.connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    await admin.disconnect();
    const refused = toBraidError(thrown);
    expect(refused.code).toBe(ErrorCode.KAFKA_UNREACHABLE);
    expect(refused.retriable).toBe(false);
    expect(refused.message).toMatch(/^Kafka refused Braid's credentials: SASL SCRAM SHA512 authentication failed/);
    expect(refused.hint).toMatch(/kafka\.sasl\.username and kafka\.sasl\.password/);
    expect(`${refused.message}${refused.hint}`).not.toMatch(/hunter2/);

    const mechanism = (await probeKafka(configIn(dir.path, kafkaYaml({ mechanism: 'scram-sha-256' }), { KAFKA_PASSWORD }).kafka)).refusal;
    expect(mechanism?.message).toMatch(/^Kafka does not accept the SASL mechanism configured/);
    expect(mechanism?.hint).toMatch(/kafka\.sasl\.mechanism/);

    const untrusted = (await probeKafka(configIn(dir.path, kafkaYaml({ ssl: '{ ca: file:other-ca.pem }' }), { KAFKA_PASSWORD }).kafka)).refusal;
    expect(untrusted?.message).toMatch(/^Kafka's TLS certificate is not trusted: /);
    expect(untrusted?.hint).toMatch(/kafka\.ssl\.ca names the CA/);

    writeFileSync(path.join(dir.path, 'braid.config.yaml'), kafkaYaml());
    const command = await braid(dir.path, ['produce', 'clickstream', '--count', '1', '--topic', uniqueName('refused')], { KAFKA_PASSWORD: 'wrong-hunter2-password' });
    expect(command.code).toBe(1);
    expect(command.stderr).toMatch(/braid: Kafka refused Braid's credentials/);
    expect(command.stderr).not.toMatch(/hunter2|\n\s+at /);
  });
});
