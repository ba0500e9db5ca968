import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import type { Admin, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { createKafkaClient, createProducer, createRedisClient, ensureTopics } from '../../shared/clients/index.ts';
import { loadConfig, type Config } from '../../shared/config/index.ts';
import { demoViews, viewRegistryOf, type View } from '../../shared/views/index.ts';
import { createServingApp, type ServingApp } from '../../serving/index.ts';
import { SpeedWorker, speedGroupId } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { Archiver } from '../../batch/index.ts';
import { ClickstreamGenerator, produceDemo, type ClickstreamGeneratorOptions, type DemoProgress } from '../../shared/demo/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { getSource, type Source } from '../../shared/sources/index.ts';
import { createLogger } from '../../shared/logging/index.ts';

/**
 * The integration-test vocabulary: real services from the global setup,
 * unique names per test, disposable resources, and polling instead of sleeps.
 */

export const testLogger = createLogger({ level: process.env.BRAID_TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn', name: 'test' });

/** A name no other test (or earlier run) uses: `<prefix>-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/**
 * Pipeline threads' warm-up in tests: one synthetic batch, so every worker a test starts runs the warm-up path
 * without a second of it per start (test/integration/speed-warm-up.test.ts covers a full-sized one).
 */
const TEST_WARM_UP_EVENTS = 2_000;

/** Configuration pointing at the test stack, with a private data dir and Redis key prefix. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({
    env: {
      KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      REDIS_URL: inject('redisUrl'),
      BRAID_REDIS_KEY_PREFIX: `${uniqueName('braid-test')}:`,
    },
    cwd: os.tmpdir(),
    overrides: { 'speed.warmUpEvents': TEST_WARM_UP_EVENTS, ...overrides },
  });
}

/** Environment for a spawned `braid` CLI that talks to the test stack. */
export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: inject('kafkaBrokers').join(','),
    REDIS_URL: inject('redisUrl'),
    BRAID_LOG_LEVEL: 'warn',
    ...extra,
  };
}

export function testKafka(clientId = uniqueName('test')): Kafka {
  return createKafkaClient({ brokers: inject('kafkaBrokers'), clientId, logger: testLogger });
}

/** A topic that exists for one test and is deleted after it. */
export async function createTopic(kafka: Kafka, options: { prefix?: string; partitions?: number } = {}): Promise<AsyncDisposable & { topic: string }> {
  const topic = uniqueName(options.prefix ?? 'test-topic');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, partitions: options.partitions ?? 1 }]);
  await admin.disconnect();
  return {
    topic,
    async [Symbol.asyncDispose]() {
      const cleanup: Admin = kafka.admin();
      await cleanup.connect();
      await cleanup.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await cleanup.disconnect();
    },
  };
}

/** A Redis client whose keys, all under a unique prefix, are deleted afterwards. */
export function testRedis(): Redis & AsyncDisposable & { prefix: string } {
  const prefix = `${uniqueName('braid-test')}:`;
  const redis = createRedisClient(inject('redisUrl'), { name: 'braid-test' });
  return Object.assign(redis, {
    prefix,
    async [Symbol.asyncDispose]() {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    },
  });
}

/** A temporary folder, removed afterwards. */
export function tempDir(prefix = 'braid-test-'): Disposable & { path: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Polls `condition` until it returns a truthy value (which is returned) or
 * the timeout passes (which throws, with `what` in the message).
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: last error ${(last as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Total messages in a topic: sum over partitions of high watermark − low watermark. */
export async function topicMessageCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface ReceivedMessage {
  key: string | null;
  value: string;
  partition: number;
  offset: string;
  headers: Record<string, string>;
}

/** Deletes topics a test's code under test created (missing ones are fine). */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((topic) => existing.has(topic));
  if (present.length > 0) await admin.deleteTopics({ topics: present }).catch(() => undefined);
  await admin.disconnect();
}

/** Reads messages from the beginning of `topic` until `count` have arrived (or times out). */
export async function waitForMessages(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 60_000,
): Promise<ReceivedMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('test-reader') });
  const received: ReceivedMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          received.push({
            key: message.key?.toString('utf8') ?? null,
            value: message.value?.toString('utf8') ?? '',
            partition: batch.partition,
            offset: message.offset,
            headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value ?? '')])),
          });
        }
      },
    });
    await waitFor(() => received.length >= count, { timeoutMs, what: `${count} messages on ${topic} (got ${received.length})` });
    return received;
  } finally {
    await consumer.disconnect();
  }
}

/** Waits until the speed layer's offsets in Redis reach the end of every non-empty partition of `topic`. */
export async function waitUntilSpeedCaughtUp(
  kafka: Kafka,
  redis: Redis,
  config: Config,
  topic: string,
  views: readonly View[],
  timeoutMs = 120_000,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const keys = new SpeedKeys(config.redis.keyPrefix);
  const group = speedGroupId(config.kafka.clientId, views[0]!.source.name, views, views);
  await waitFor(
    async () => {
      const stored = await redis.hmget(keys.partitions(group), ...ends.map((end) => SpeedKeys.offsetField(topic, end.partition)));
      return ends.every((end, index) => end.high === '0' || stored[index] === end.high);
    },
    { timeoutMs, intervalMs: 100, what: `the speed layer to reach offsets ${ends.map((end) => end.high).join(',')} of ${topic}` },
  );
}

/**
 * Runs an in-process archiver on the config's clickstream topic until its
 * committed offsets add up to `total` messages, then stops it cleanly.
 */
export async function archiveUntil(config: Config, kafka: Kafka, topic: string, total: number, source: Source = getSource('clickstream')): Promise<void> {
  const archiver = await Archiver.start({ config, source, logger: testLogger, registry: createMetricsRegistry('test-archiver') });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId: archiver.group, topics: [topic] });
        return committed!.partitions.reduce((sum, partition) => sum + Math.max(0, Number(partition.offset)), 0) === total;
      },
      { timeoutMs: 60_000, what: `${total} messages of ${topic} archived` },
    );
  } finally {
    await admin.disconnect();
    await archiver.stop();
  }
}

/** Produces `count` demo clickstream events to `topic` in event-time mode (spread from `startMs` over `spanMs`). */
export function produceClickstream(
  kafka: Kafka,
  topic: string,
  options: { count: number; startMs: number; spanMs: number; partitions: number; generator: ClickstreamGeneratorOptions; teeFile?: string },
): Promise<DemoProgress> {
  return produceDemo({
    kafka,
    logger: testLogger,
    registry: createMetricsRegistry('test-producer'),
    source: 'clickstream',
    topic,
    partitions: options.partitions,
    generator: new ClickstreamGenerator(options.generator),
    ratePerS: Infinity,
    count: options.count,
    startMs: options.startMs,
    spanMs: options.spanMs,
    ...(options.teeFile ? { teeFile: options.teeFile } : {}),
  });
}

/**
 * Demo clickstream events produced to a topic of their own and run through a speed worker for the demo views
 * until it has them all, then stopped: Redis holds the speed layer's windows of them. `config` holds the
 * overrides that reach them (key prefix, client id, topic); the topic and the keys go on dispose.
 */
export async function clickstreamInSpeedLayer(options: {
  prefix: string;
  partitions: number;
  count: number;
  startMs: number;
  spanMs: number;
  generator: ClickstreamGeneratorOptions;
}): Promise<AsyncDisposable & { config: Record<string, unknown> }> {
  const kafka = testKafka();
  const topic = await createTopic(kafka, { prefix: options.prefix, partitions: options.partitions });
  const redis = testRedis();
  const dispose = async () => {
    await topic[Symbol.asyncDispose]();
    await redis[Symbol.asyncDispose]();
  };
  const config = {
    'redis.keyPrefix': redis.prefix,
    'kafka.clientId': uniqueName(options.prefix),
    'sources.clickstream.topic': topic.topic,
    'sources.clickstream.partitions': options.partitions,
    'speed.flushIntervalMs': 200,
  };
  try {
    await produceClickstream(kafka, topic.topic, options);
    const worker = await SpeedWorker.start({ config: testConfig(config), views: demoViews, logger: testLogger, registry: createMetricsRegistry('speed') });
    try {
      await waitUntilSpeedCaughtUp(kafka, redis, testConfig(config), topic.topic, demoViews);
    } finally {
      await worker.stop();
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return { config, [Symbol.asyncDispose]: dispose };
}

/** The serving app of `config`, in-process (requests through `app.request()`), with its own Redis clients; closed on dispose. */
export async function testServingApp(config: Config, views: readonly View[] = demoViews, kafka?: Kafka): Promise<ServingApp & AsyncDisposable> {
  const redis = createRedisClient(config.redis.url, { name: 'test-serve' });
  const subscriber = createRedisClient(config.redis.url, { name: 'test-serve-updates' });
  const serving = await createServingApp({
    config,
    views: viewRegistryOf([...views]),
    redis,
    subscriber,
    registry: createMetricsRegistry('test-serve'),
    logger: testLogger,
    ...(kafka ? { kafka } : {}),
  });
  return {
    ...serving,
    async [Symbol.asyncDispose]() {
      await serving.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}

/**
 * Whether two answers (rows, measures, states) are the same, floating sums to 1e-9 relative: DuckDB adds in another
 * order when it reads another set of files, or the same rows in another order.
 */
export function sameAnswer(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number' && !(Number.isInteger(a) && Number.isInteger(b))) return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    return Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([key, value]) => sameAnswer(value, (b as Record<string, unknown>)[key]));
  }
  return a === b;
}

/** The first row where two answers differ, described; '' when they are the same (see {@link sameAnswer}). */
export function firstDifference(name: string, actual: readonly unknown[], expected: readonly unknown[]): string {
  if (actual.length !== expected.length) return `${name}: ${actual.length} rows, expected ${expected.length}`;
  const index = actual.findIndex((row, i) => !sameAnswer(row, expected[i]));
  return index === -1 ? '' : `${name} row ${index}: ${JSON.stringify(actual[index])}, expected ${JSON.stringify(expected[index])}`;
}

/** Sends events (JSON objects) to a topic, keyed as their source keys them; resolves once Kafka acknowledged all. */
export async function sendEvents(kafka: Kafka, topic: string, source: Source, events: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    for (let start = 0; start < events.length; start += 1_000) {
      const messages = events.slice(start, start + 1_000).map((event) => ({ key: source.keyOf(event as never), value: JSON.stringify(event) }));
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const execFileAsync = promisify(execFile);

/** Runs `npx braid …` as a user would (a process of its own), with the test stack's endpoints unless `env` says otherwise. */
export async function runBraid(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BRAID, ...args], {
      env: options.env ?? testEnv(),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      timeout: options.timeoutMs ?? 90_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The path of the `braid` entry point, for tests that start long-running commands themselves. */
export const braidEntryPoint = BRAID;

/** `npx braid dev` as a user runs it, on a topic, Redis prefix and data folder of its own. */
export interface BraidDev {
  readonly topic: string;
  /** What it has written to stderr so far. */
  stderr(): string;
  /** SIGINT, then waits for it to exit; deletes its topics, keys and folder. Its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `npx braid dev --rate 200 --recompute-every 10s` (serving on a free port, `serving` adding keys under
 * `serving:`) and waits until its status line shows a recompute run that succeeded.
 */
export async function startBraidDev(options: { name: string; serving?: string[] }): Promise<BraidDev> {
  const redis = testRedis();
  const dir = tempDir(`braid-${options.name}-`);
  const topic = uniqueName(`${options.name}-clicks`);
  const configFile = path.join(dir.path, 'braid.config.yaml');
  writeFileSync(
    configFile,
    [
      `kafka:\n  clientId: ${uniqueName(options.name)}`,
      `redis:\n  keyPrefix: "${redis.prefix}"`,
      `dataDir: ${path.join(dir.path, 'data')}`,
      `archive:\n  flushIntervalMs: 2s`,
      ['serving:', '  port: 0', ...(options.serving ?? []).map((line) => `  ${line}`)].join('\n'),
      `sources:\n  clickstream:\n    topic: ${topic}\n    partitions: 2`,
      '',
    ].join('\n'),
  );
  const dev = spawn(process.execPath, [BRAID, '--config', configFile, 'dev', '--rate', '200', '--recompute-every', '10s'], {
    env: testEnv({ BRAID_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  dev.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
  const stop = async () => {
    dev.kill('SIGINT');
    const code = await exited;
    await deleteTopics(testKafka(), [topic, `${topic}.dlq`, `${topic}.late`]);
    await redis[Symbol.asyncDispose]();
    dir[Symbol.dispose]();
    return code;
  };
  try {
    await waitFor(async () => /\[dev\] in \d+ ev\/s .* recompute \S+ success \d+s ago \(page_views v\d+ cutoff/.test(stderr), {
      timeoutMs: 150_000,
      intervalMs: 500,
      what: 'a recompute run in the status line',
    });
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}:\n${stderr}`);
  }
  return { topic, stderr: () => stderr, stop };
}
