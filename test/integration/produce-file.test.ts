import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { produceMessages } from '../../shared/produce/index.ts';
import { openReplayFile, REPLAY_KINDS, replayMessages } from '../../shared/replay/index.ts';
import { clickstream } from '../../shared/sources/index.ts';
import { createTopic, deleteTopics, tempDir, testEnv, testKafka, testLogger, topicMessageCount, waitForMessages } from '../harness/index.ts';
import { orders, writeParquet } from '../fixtures/replay-orders.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const run = promisify(execFile);

describe('produce --file → Kafka: valid rows to the topic, bad rows to <topic>.dlq', () => {
  it('npx braid produce clickstream --file sends each valid row once, keyed, and each bad row with its reason and row', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'replay-cli', partitions: 2 });
    const dlq = `${topic.topic}.dlq`;
    using dir = tempDir();
    const file = path.join(dir.path, 'clicks.ndjson');
    const event = (user: string, minute: number) => ({
      ts: `2026-01-01T00:${String(minute).padStart(2, '0')}:00Z`,
      user_id: user,
      session_id: `${user}-s1`,
      url: '/',
      country: 'US',
      device: 'mobile',
      revenue: minute % 2 === 0 ? null : 1.5,
    });
    const lines = [
      ...Array.from({ length: 20 }, (_, index) => JSON.stringify(event(`u${index % 7}`, index))),
      '{"ts": 1767225600000, "user_id": "u1"', // 21: malformed
      JSON.stringify({ ...event('u9', 1), user_id: undefined }), // 22: missing user_id
      JSON.stringify({ ...event('u9', 1), revenue: 'twelve' }), // 23: the source rejects it
      JSON.stringify(event('u8', 30)),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);

    try {
      const { stdout, stderr } = await run(process.execPath, [BRAID, 'produce', 'clickstream', '--file', file, '--topic', topic.topic, '--rate', 'max', '--no-progress'], {
        env: testEnv(),
        timeout: 90_000,
      });
      expect(stdout).toBe('');
      expect(stderr).toMatch(new RegExp(`Replayed 24 rows of .*clicks\\.ndjson in [\\d.]+ s \\(\\d+ rows/s\\): 21 valid to ${topic.topic}, 3 bad to ${dlq}`));
      expect(stderr).toMatch(/\n {2}row 22: user_id: missing\n/);

      const valid = await waitForMessages(kafka, topic.topic, 21);
      expect(await topicMessageCount(kafka, topic.topic)).toBe(21);
      const expected = [...lines.slice(0, 20), lines[23]!].map((line) => {
        const decoded = clickstream.decode(line);
        if (!decoded.ok) throw new Error(decoded.reason);
        return decoded.event;
      });
      const received = valid.map((message) => ({ key: message.key, event: JSON.parse(message.value) as Record<string, unknown> }));
      expect(received.map(({ event }) => event).sort((a, b) => (a.ts as number) - (b.ts as number) || String(a.user_id).localeCompare(String(b.user_id)))).toEqual(
        expected.sort((a, b) => a.ts - b.ts || a.user_id.localeCompare(b.user_id)),
      );
      for (const { key, event: sent } of received) expect(key).toBe(sent.user_id);

      const dead = await waitForMessages(kafka, dlq, 3);
      expect(await topicMessageCount(kafka, dlq)).toBe(3);
      const byRow = new Map(dead.map((message) => [message.headers['braid-source-row'], message]));
      expect([...byRow.keys()].sort()).toEqual(['21', '22', '23']);
      for (const message of dead) {
        expect(message.headers['braid-source-file']).toBe(file);
        expect(message.value).toBe(lines[Number(message.headers['braid-source-row']) - 1]);
      }
      expect(byRow.get('21')!.headers['braid-error']).toMatch(/^malformed JSON: /);
      expect(byRow.get('22')!.headers['braid-error']).toBe('user_id: missing');
      expect(byRow.get('23')!.headers['braid-error']).toMatch(/^schema: revenue: /);
    } finally {
      await deleteTopics(kafka, [dlq]);
    }
  });

  it('a Parquet file through the shared send loop: keys of two fields, exact integers, rows once each', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'replay-parquet', partitions: 3 });
    const dlq = `${topic.topic}.dlq`;
    using dir = tempDir();
    const file = path.join(dir.path, 'orders.parquet');
    await writeParquet(
      file,
      `SELECT TIMESTAMP '2026-01-01' + to_seconds(i) AS ts,
              CASE WHEN i = 17 THEN NULL ELSE 'o' || i END AS order_id,
              lpad(CAST(i % 5 AS VARCHAR), 5, '0') AS zip,
              CASE WHEN i = 42 THEN 9007199254740993 ELSE i END::BIGINT AS quantity,
              (i / 4)::DECIMAL(10,2) AS amount
       FROM range(100) t(i)`,
    );
    const replay = await openReplayFile({ file, source: orders });
    try {
      const result = await produceMessages({
        kafka,
        logger: testLogger,
        registry: createMetricsRegistry('replay-test'),
        source: orders.name,
        topic: topic.topic,
        extraTopics: [dlq],
        partitions: 3,
        messages: replayMessages(replay.rows(), { source: orders, dlqTopic: dlq, file }),
        kinds: REPLAY_KINDS,
        metricsPrefix: 'braid_replay',
        ratePerS: Infinity,
        batchSize: 16,
      });
      expect(result.byKind).toEqual({ valid: 98, bad: 2 });

      const valid = await waitForMessages(kafka, topic.topic, 98);
      expect(await topicMessageCount(kafka, topic.topic)).toBe(98);
      const quantities = valid.map((message) => {
        const event = JSON.parse(message.value) as { order_id: string; zip: string; quantity: number; amount: number; ts: number; note: null };
        expect(message.key).toBe(`${event.order_id}|${event.zip}`);
        expect(event.zip).toBe(String(event.quantity % 5).padStart(5, '0'));
        expect(event.ts).toBe(Date.parse('2026-01-01T00:00:00Z') + event.quantity * 1000);
        expect(event.amount).toBe(event.quantity / 4);
        expect(event.note).toBeNull();
        return event.quantity;
      });
      expect(quantities.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 17 && i !== 42));

      const dead = await waitForMessages(kafka, dlq, 2);
      expect(dead.map((message) => [message.headers['braid-source-row'], message.headers['braid-error']]).sort()).toEqual([
        ['18', 'order_id: missing'],
        ['43', 'quantity: 9007199254740993 is beyond ±2^53, which a JSON number cannot hold exactly'],
      ]);
      expect(JSON.parse(dead.find((message) => message.headers['braid-source-row'] === '43')!.value)).toMatchObject({ order_id: 'o42', quantity: '9007199254740993' });
    } finally {
      replay.close();
      await deleteTopics(kafka, [dlq]);
    }
  });
});
