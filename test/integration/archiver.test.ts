import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, inject, it } from 'vitest';
import { Archiver, completeFiles, filesToRead, listMasterFiles, partitionCoverage } from '../../batch/index.ts';
import { createProducer } from '../../shared/clients/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { clickstream, getSource, type ClickstreamEvent } from '../../shared/sources/index.ts';
import { archiveUntil, createTopic, deleteTopics, produceClickstream, tempDir, testConfig, testKafka, testLogger, uniqueName, waitFor } from '../harness/index.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));
const PARTITIONS = 3;
const COUNT = 24_000;

/** A `braid archive` child; `started` resolves once it has announced itself (its signal handlers are in place). */
function spawnArchiver(configFile: string): ChildProcess & { started: Promise<void> } {
  const child = spawn(process.execPath, [BRAID, '--config', configFile, 'archive'], {
    env: { ...process.env, KAFKA_BROKERS: inject('kafkaBrokers').join(','), BRAID_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const started = new Promise<void>((resolve) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('archive: ')) resolve();
    });
  });
  return Object.assign(child, { started });
}

const rowKey = (event: Pick<ClickstreamEvent, 'ts' | 'user_id' | 'session_id' | 'url' | 'country' | 'device' | 'revenue'>) =>
  `${event.ts}|${event.user_id}|${event.session_id}|${event.url}|${event.country}|${event.device}|${event.revenue}`;

describe('archiver: Kafka → Parquet master dataset, exactly once', () => {
  it('holds exactly the valid events, none twice, in the folder of their event-time day, after kill -9 at several points', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'archive', partitions: PARTITIONS });
    using dir = tempDir('braid-archive-');
    const tee = path.join(dir.path, 'events.jsonl');
    const dataDir = path.join(dir.path, 'data');
    await produceClickstream(kafka, topic.topic, {
      partitions: PARTITIONS,
      generator: { seed: 5, disorderMs: 5_000, lateFraction: 0.02, lateByMs: 45 * 60_000, badFraction: 0.005 },
      count: COUNT,
      startMs: Date.parse('2026-02-01T00:00:00Z'),
      spanMs: 6 * 3_600_000,
      teeFile: tee,
    });
    const configFile = path.join(dir.path, 'braid.config.yaml');
    writeFileSync(
      configFile,
      `kafka:\n  clientId: ${uniqueName('archive')}\ndataDir: ${dataDir}\nsources:\n  clickstream:\n    topic: ${topic.topic}\narchive:\n  maxRowsPerFile: 1500\n  flushIntervalMs: 150\nspeed:\n  sessionTimeoutMs: 6000\n`,
    );
    const archived = () =>
      Array.from({ length: PARTITIONS }, (_, partition) => partitionCoverage(listMasterFiles(dataDir, 'clickstream').files, topic.topic, partition).resumeOffset ?? 0).reduce(
        (sum, offset) => sum + offset,
        0,
      );

    for (const fraction of [0.2, 0.5, 0.8]) {
      const child = spawnArchiver(configFile);
      await waitFor(() => archived() >= fraction * COUNT, { timeoutMs: 90_000, intervalMs: 10, what: `${fraction * 100}% archived` });
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    const last = spawnArchiver(configFile);
    await last.started;
    await waitFor(() => archived() === COUNT, { timeoutMs: 90_000, intervalMs: 100, what: 'every offset archived' });
    const exitCode = await new Promise<number | null>((resolve) => {
      last.once('exit', resolve);
      last.kill('SIGTERM');
    });
    expect(exitCode).toBe(0);

    const { files, temporary } = listMasterFiles(dataDir, 'clickstream');
    expect(temporary).toEqual([]);
    expect(completeFiles(files)).toHaveLength(files.length);

    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const list = filesToRead(files).map((file) => `'${file.path}'`).join(', ');
    const reader = await connection.runAndReadAll(
      `SELECT ts, user_id, session_id, url, country, device, revenue, _kafka_partition, _kafka_offset FROM read_parquet([${list}])`,
    );
    const rows = reader.getRowObjectsJS() as Array<Record<string, unknown>>;
    const expected = readFileSync(tee, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => clickstream.decode(line))
      .filter((decoded) => decoded.ok)
      .map((decoded) => rowKey((decoded as { event: ClickstreamEvent }).event))
      .sort();
    const coordinates = new Set(rows.map((row) => `${row._kafka_partition}:${row._kafka_offset}`));
    expect(coordinates.size, 'no Kafka message archived twice').toBe(rows.length);
    expect(rows.length).toBe(expected.length);
    expect(rows.map((row) => rowKey({ ...(row as unknown as ClickstreamEvent), ts: Number(row.ts) })).sort()).toEqual(expected);

    // Every file is in the folder of its rows' event-time day, late events included, and its name gives their time range.
    for (const file of files) {
      const bounds = (await connection.runAndReadAll(`SELECT min(ts) AS lo, max(ts) AS hi FROM read_parquet('${file.path}')`)).getRowObjectsJS()[0]!;
      expect([Number(bounds.lo), Number(bounds.hi)]).toEqual([file.minTimeMs, file.maxTimeMs]);
      expect(file.minTimeMs).toBeGreaterThanOrEqual(file.dayMs);
      expect(file.maxTimeMs).toBeLessThan(file.dayMs + 86_400_000);
    }
    connection.closeSync();
    instance.closeSync();
  });

  it("started before its topic exists, creates it and archives what comes (regression: it stopped on Kafka's 'This server does not host this topic-partition')", async () => {
    const kafka = testKafka();
    const topic = uniqueName('archive-before-topic');
    using dir = tempDir('braid-archive-before-topic-');
    const config = testConfig({ dataDir: path.join(dir.path, 'data'), 'kafka.clientId': uniqueName('archive-before-topic'), 'sources.clickstream.topic': topic, 'sources.clickstream.partitions': 2, 'archive.flushIntervalMs': 100 });
    const archiver = await Archiver.start({ config, source: getSource('clickstream'), logger: testLogger, registry: createMetricsRegistry('test-archive-before-topic') });
    try {
      const admin = kafka.admin();
      await admin.connect();
      try {
        expect((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions).toHaveLength(2);
      } finally {
        await admin.disconnect();
      }
      await produceClickstream(kafka, topic, { partitions: 2, generator: { seed: 3 }, count: 200, startMs: Date.parse('2026-02-01T00:00:00Z'), spanMs: 3_600_000 });
      await waitFor(() => completeFiles(listMasterFiles(config.dataDir, 'clickstream').files).reduce((sum, file) => sum + file.lastOffset - file.firstOffset + 1, 0) === 200, {
        timeoutMs: 30_000,
        what: '200 events archived',
      });
    } finally {
      await archiver.stop();
      await deleteTopics(kafka, [topic]);
    }
  });

  it('archives every valid event as it decodes, whatever JSON its message holds', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'archive-json' });
    using dir = tempDir('braid-archive-json-');
    const day = Date.parse('2026-02-01T00:00:00Z');
    const event = (index: number, fields: Record<string, unknown> = {}) =>
      JSON.stringify({ ts: day + index * 3_600_000, user_id: `u${index}`, session_id: `s${index}`, url: `/p/${index}`, country: 'DE', device: 'mobile', revenue: null, ...fields });
    const flushes: Array<Array<string | Buffer>> = [
      // As the producer wrote them: ISO and epoch event times, pretty-printed, absent nullable fields, extra fields.
      [
        event(0),
        event(1, { ts: '2026-02-01T01:00:00.250+00:00' }),
        JSON.stringify(JSON.parse(event(2)), null, 2),
        event(3, { revenue: undefined, extra: { nested: [1] } }),
        event(4, { _kafka_offset: 'mine', url: '/é "q" 😀' }),
        event(30, { ts: day + 30 * 3_600_000 }),
        'not json',
        event(5, { ts: 'yesterday' }),
      ],
      // JSON that JSON.parse takes and DuckDB's reader refuses: a key twice, a lone surrogate, bytes that are not UTF-8.
      [`{"ts":${day + 6 * 3_600_000},"user_id":"u6","user_id":"u6b","session_id":"s6","url":"/p/6","country":"DE","device":"mobile"}`],
      [event(7, { url: '/p/\ud800' })],
      [Buffer.concat([Buffer.from(event(8).slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
    ];
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      // One send per intended flush, each archived before the next is sent, so a refused one does not take the others along.
      let sent = 0;
      for (const values of flushes) {
        await producer.send({ topic: topic.topic, messages: values.map((value) => ({ key: 'k', value })) });
        sent += values.length;
        const config = testConfig({ dataDir: path.join(dir.path, 'data'), 'kafka.clientId': uniqueName('archive-json'), 'sources.clickstream.topic': topic.topic, 'archive.flushIntervalMs': 100 });
        await archiveUntil(config, kafka, topic.topic, sent);
      }
    } finally {
      await producer.disconnect();
    }
    const expected = flushes
      .flat()
      .map((value, offset) => ({ decoded: clickstream.decode(value), offset }))
      .filter(({ decoded }) => decoded.ok)
      // Strings reach Parquet as UTF-8: a lone surrogate becomes U+FFFD, as invalid bytes did when decoded.
      .map(({ decoded, offset }) => {
        const valid = (decoded as { event: ClickstreamEvent }).event;
        return { ...valid, url: Buffer.from(valid.url, 'utf8').toString('utf8'), _kafka_partition: 0, _kafka_offset: offset };
      });
    expect(expected).toHaveLength(9);

    const { files } = listMasterFiles(path.join(dir.path, 'data'), 'clickstream');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const list = filesToRead(files).map((file) => `'${file.path}'`).join(', ');
      const rows = (await connection.runAndReadAll(`SELECT * FROM read_parquet([${list}]) ORDER BY _kafka_offset`)).getRowObjectsJS();
      expect(rows.map((row) => ({ ...row, ts: Number(row.ts), _kafka_offset: Number(row._kafka_offset) }))).toEqual(expected);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    expect(new Set(files.map((file) => file.folder))).toEqual(new Set(['2026-02-01', '2026-02-02']));
  });
});
