import { createProducer } from '../../shared/clients/index.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../shared/config/index.ts';
import { ClickstreamGenerator } from '../../shared/demo/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { demoViews } from '../../shared/views/index.ts';
import { SpeedWorker, speedGroupId } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { createTopic, deleteTopics, tempDir, testConfig, testKafka, testLogger, testRedis, uniqueName, waitFor, waitUntilSpeedCaughtUp } from '../harness/index.ts';
import { diffDumps, dumpViews } from '../harness/speed-dump.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const START_MS = Date.parse('2026-01-01T00:00:00Z');
const CHUNKS = 8;
const PER_CHUNK = 4_000;
const PARTITIONS = 4;

/** The whole input, produced in chunks so workers can be killed between (and during) them. */
function chunks(): Array<Array<{ key: string | null; value: string }>> {
  const generator = new ClickstreamGenerator({ seed: 77, disorderMs: 3_000, lateFraction: 0.01, lateByMs: 10 * 60_000, badFraction: 0.002, users: 3_000, urls: 500 });
  const total = CHUNKS * PER_CHUNK;
  return Array.from({ length: CHUNKS }, (_, chunk) =>
    Array.from({ length: PER_CHUNK }, (_, index) => {
      const message = generator.next(START_MS + Math.floor((2 * 3_600_000 * (chunk * PER_CHUNK + index)) / total));
      return { key: message.key, value: message.value };
    }),
  );
}

async function send(kafka: Kafka, topic: string, messages: Array<{ key: string | null; value: string }>): Promise<void> {
  const producer = createProducer(kafka, { allowAutoTopicCreation: true });
  await producer.connect();
  await producer.send({ topic, messages });
  await producer.disconnect();
}

/** A `braid speed` child process on the topic, with its own config file. */
/** A `braid speed` child; `ready` resolves once it has said what it computes (its signal handlers are installed then); `stderr()` is what it wrote. */
function spawnWorker(configFile: string): ChildProcess & { ready: Promise<void>; stderr(): string } {
  const child = spawn(process.execPath, [BRAID, '--config', configFile, 'speed'], {
    env: { ...process.env, KAFKA_BROKERS: inject('kafkaBrokers').join(','), REDIS_URL: inject('redisUrl'), BRAID_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const ready = new Promise<void>((resolve) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('speed: computing')) resolve();
    });
  });
  return Object.assign(child, { ready, stderr: () => stderr });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** SIGTERM, then how it ended: `exit <code>` or `signal <name>`. */
function stopGracefully(child: ChildProcess): Promise<string> {
  const ended = (code: number | null, signal: NodeJS.Signals | null) => (code !== null ? `exit ${code}` : `signal ${signal}`);
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(ended(child.exitCode, child.signalCode));
    child.once('exit', (code, signal) => resolve(ended(code, signal)));
    child.kill('SIGTERM');
  });
}

describe('speed layer: exactly once in effect', () => {
  const kafka = testKafka();
  const input = chunks();
  let topic: AsyncDisposable & { topic: string };
  let reference: Record<string, unknown[]>;
  const dir = tempDir('braid-crash-');

  /** A config file for child workers of one run (own consumer group and key prefix). */
  function runConfig(prefix: string, clientId: string): { file: string; config: Config } {
    const file = path.join(dir.path, `${clientId}.yaml`);
    writeFileSync(
      file,
      `kafka:\n  clientId: ${clientId}\nredis:\n  keyPrefix: "${prefix}"\nsources:\n  clickstream:\n    topic: ${topic.topic}\n    partitions: ${PARTITIONS}\nspeed:\n  flushIntervalMs: 50\n  sessionTimeoutMs: 6000\nmetrics:\n  port: 0\n`,
    );
    return {
      file,
      config: testConfig({ 'redis.keyPrefix': prefix, 'kafka.clientId': clientId, 'sources.clickstream.topic': topic.topic, 'sources.clickstream.partitions': PARTITIONS }),
    };
  }

  beforeAll(async () => {
    topic = await createTopic(kafka, { prefix: 'crash', partitions: PARTITIONS });
    for (const chunk of input) await send(kafka, topic.topic, chunk);
    // The crash-free reference: one in-process worker over the whole topic.
    await using redis = testRedis();
    const { config } = runConfig(redis.prefix, uniqueName('reference'));
    const worker = await SpeedWorker.start({ config, views: demoViews, logger: testLogger, registry: createMetricsRegistry('reference') });
    await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
    await worker.stop();
    reference = await dumpViews(redis, config, START_MS);
    expect(reference.page_views!.length).toBeGreaterThan(1_000);
  }, 300_000);

  afterAll(async () => {
    await deleteTopics(kafka, [`${topic.topic}.dlq`, `${topic.topic}.late`]);
    await topic[Symbol.asyncDispose]();
    dir[Symbol.dispose]();
  });

  it('a worker killed with SIGKILL at several points and restarted leaves exactly the crash-free numbers', async () => {
    await using redis = testRedis();
    const { file, config } = runConfig(redis.prefix, uniqueName('crash'));
    const keys = new SpeedKeys(config.redis.keyPrefix);
    const group = speedGroupId(config.kafka.clientId, 'clickstream', demoViews, demoViews);
    const total = CHUNKS * PER_CHUNK;
    let kills = 0;
    // Kill when the stored offsets pass each of these fractions of the input: mid-stream, mid-flush or not.
    for (const fraction of [0.15, 0.4, 0.65, 0.85]) {
      const worker = spawnWorker(file);
      await waitFor(
        async () => {
          const offsets = Object.entries(await redis.hgetall(keys.partitions(group))).filter(([field]) => field.startsWith('o:'));
          return offsets.reduce((sum, [, offset]) => sum + Number(offset), 0) >= fraction * total;
        },
        { timeoutMs: 120_000, intervalMs: 20, what: `offsets past ${fraction * 100}%` },
      );
      await killHard(worker);
      kills++;
    }
    const last = spawnWorker(file);
    await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
    // The last kill can come after the offsets reached the end: then "caught up" holds before this worker has
    // even started, and a SIGTERM during start-up (before its handlers exist) ends it with no exit code.
    await last.ready;
    expect(await stopGracefully(last), last.stderr().slice(-3_000)).toBe('exit 0');
    expect(kills).toBe(4);
    expect(diffDumps(await dumpViews(redis, config, START_MS), reference)).toBe('');
  });

  it('rebalance: two workers share the partitions; one is killed mid-stream and the other takes over with the same result', async () => {
    await using redis = testRedis();
    const { file, config } = runConfig(redis.prefix, uniqueName('rebalance'));
    const keys = new SpeedKeys(config.redis.keyPrefix);
    const group = speedGroupId(config.kafka.clientId, 'clickstream', demoViews, demoViews);
    const first = spawnWorker(file);
    const second = spawnWorker(file);
    // Both members must own partitions before one dies: wait for the group to have two members.
    const admin = kafka.admin();
    await admin.connect();
    await waitFor(
      async () => {
        const { groups } = await admin.describeGroups([group]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 2;
      },
      { timeoutMs: 60_000, what: 'a stable group of two workers' },
    );
    await admin.disconnect();
    await waitFor(async () => Object.keys(await redis.hgetall(keys.partitions(group))).some((field) => field.startsWith('o:')), {
      timeoutMs: 60_000,
      what: 'first flushes',
    });
    await killHard(first);
    await waitUntilSpeedCaughtUp(kafka, redis, config, topic.topic, demoViews);
    expect(await stopGracefully(second), second.stderr().slice(-3_000)).toBe('exit 0');
    expect(diffDumps(await dumpViews(redis, config, START_MS), reference)).toBe('');
  });
});
