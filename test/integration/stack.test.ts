import { existsSync } from 'node:fs';
import path from 'node:path';
import { inject, describe, expect, it } from 'vitest';

import { createKafkaClient, createProducer, ensureTopics } from '../../shared/clients/index.ts';
import { loadConfig, readStackState } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { redisAnswers, stackDown, stackStatus, stackUp } from '../../infra/stack/index.ts';
import { isAlive } from '../../infra/stack/processes.ts';
import { tempDir, testLogger, uniqueName, waitForMessages } from '../harness/index.ts';

describe('local stack', () => {
  it('comes up from nothing, is reused when running, round-trips a message, and goes down leaving no process', async () => {
    using dir = tempDir('braid-stack-');
    // Port 0: free ports, so this second stack never collides with the test stack.
    const env = { BRAID_STACK_KAFKA_PORT: '0', BRAID_STACK_KAFKA_CONTROLLER_PORT: '0', BRAID_STACK_REDIS_PORT: '0' };
    const config = loadConfig({ env, cwd: dir.path });
    const messages: string[] = [];
    try {
      const first = await stackUp(config, (message) => messages.push(message));
      expect(first.kafka).toBe('started');
      expect(first.redis).toBe('started');
      expect(messages.join('\n')).toMatch(/Starting Kafka 3\.9\.\d+ \(KRaft, single node\)/);
      expect(existsSync(path.join(dir.path, '.braid', 'kafka', 'data', 'meta.properties'))).toBe(true);
      const state = readStackState(path.join(dir.path, '.braid'));
      expect(state.kafka?.pid).toBeGreaterThan(0);
      expect(state.redis?.pid).toBeGreaterThan(0);

      // Config now finds the running stack by itself, and a second `up` reuses it.
      const again = await stackUp(loadConfig({ env, cwd: dir.path }));
      expect(again).toEqual({ ...first, kafka: 'reused', redis: 'reused' });
      const statuses = await stackStatus(loadConfig({ env, cwd: dir.path }));
      expect(statuses.map((s) => [s.name, s.state])).toEqual([
        ['kafka', 'running'],
        ['redis', 'running'],
      ]);

      // A kafkajs client creates a topic and round-trips a message through it.
      const kafka = createKafkaClient({ brokers: first.kafkaBrokers, clientId: 'stack-test', logger: testLogger });
      const admin = kafka.admin();
      await admin.connect();
      const topic = uniqueName('roundtrip');
      await ensureTopics(admin, [{ topic, partitions: 1 }]);
      await admin.disconnect();
      const producer = createProducer(kafka, { allowAutoTopicCreation: true });
      await producer.connect();
      await producer.send({ topic, messages: [{ key: 'k', value: 'hello braid' }] });
      await producer.disconnect();
      const received = await waitForMessages(kafka, topic, 1);
      expect(received.map((m) => m.value)).toEqual(['hello braid']);
      expect(await redisAnswers(first.redisUrl)).toBe(true);

      const down = await stackDown(loadConfig({ env, cwd: dir.path }));
      expect(down.stopped.sort()).toEqual(['kafka', 'redis']);
      expect(isAlive(state.kafka!.pid)).toBe(false);
      expect(isAlive(state.redis!.pid)).toBe(false);
      expect(readStackState(path.join(dir.path, '.braid'))).toEqual({});
      expect((await stackStatus(loadConfig({ env, cwd: dir.path }))).map((s) => s.state)).toEqual(['stopped', 'stopped']);
    } finally {
      await stackDown(loadConfig({ env, cwd: dir.path }));
    }
  });

  it('uses configured endpoints as they are instead of starting its own', async () => {
    using dir = tempDir('braid-stack-');
    const config = loadConfig({
      env: { KAFKA_BROKERS: inject('kafkaBrokers').join(','), REDIS_URL: inject('redisUrl') },
      cwd: dir.path,
    });
    const result = await stackUp(config);
    expect(result).toEqual({ kafkaBrokers: inject('kafkaBrokers'), kafka: 'external', redisUrl: inject('redisUrl'), redis: 'external' });
    expect(existsSync(path.join(dir.path, '.braid', 'kafka'))).toBe(false);
  });

  it('fails naming the variable when a configured endpoint does not answer', async () => {
    using dir = tempDir('braid-stack-');
    const config = loadConfig({ env: { REDIS_URL: 'redis://127.0.0.1:1', KAFKA_BROKERS: inject('kafkaBrokers').join(',') }, cwd: dir.path });
    const error = await stackUp(config).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.REDIS_UNREACHABLE);
    expect((error as BraidError).message).toMatch(/redis:\/\/127\.0\.0\.1:1 \(redis\.url, from REDIS_URL\) does not answer/);
  });

  it('refuses a configured port that another process holds, naming the key', async () => {
    using dir = tempDir('braid-stack-');
    const busyPort = Number(new URL(inject('redisUrl')).port);
    const config = loadConfig({
      env: { BRAID_STACK_REDIS_PORT: String(busyPort), KAFKA_BROKERS: inject('kafkaBrokers').join(',') },
      cwd: dir.path,
    });
    await expect(stackUp(config)).rejects.toThrow(`port ${busyPort} (stack.redisPort) is in use by another process`);
  });
});
