import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Kafka } from 'kafkajs';
import { Archiver, listMasterFiles, sourceRoot } from '../batch/index.ts';
import { createDuckDbParquetWriter, type ArchiveRow } from '../batch/parquet-writer.ts';
import { createKafkaClient, ensureTopics } from '../shared/clients/index.ts';
import { loadConfig } from '../shared/config/index.ts';
import { ClickstreamGenerator, produceDemo } from '../shared/demo/index.ts';
import { createLogger } from '../shared/logging/index.ts';
import { createMetricsRegistry, type Histogram } from '../shared/metrics/index.ts';
import { getSource } from '../shared/sources/index.ts';
import { stackUp } from '../infra/stack/index.ts';
import { bestRate, defineBenchmark } from './lib/benchmark.ts';

const EVENTS = 400_000;
const PARTITIONS = 4;
const HOUR_MS = 3_600_000;
/** Event-time mode: the events spread over three hours from 00:20, so every flush writes one file per hour it touched. */
const START_MS = Date.UTC(2026, 0, 1, 0, 20);
const SPAN_MS = 3 * HOUR_MS;
/** Files roll at 50 k rows (as the parquet-writers benchmark's files) or every second, so the tail does not wait the default 30 s. */
const MAX_ROWS_PER_FILE = 50_000;
const FLUSH_INTERVAL_MS = 1_000;
const TIMEOUT_MS = 180_000;
const OFFSET_POLL_MS = 20;
/** In-process Parquet writer: the same decoded rows, as MAX_ROWS_PER_FILE-row files. */
const WRITER_EVENTS = 200_000;
const clickstream = getSource('clickstream');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (startedNs: bigint): number => Number(process.hrtime.bigint() - startedNs) / 1e9;
const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** Decoded clickstream rows exactly as the archiver buffers them: the source's decode, plus the Kafka coordinates. */
function decodedRows(count: number): ArchiveRow[] {
  const generator = new ClickstreamGenerator({ seed: 1, disorderMs: 5_000 });
  const rows: ArchiveRow[] = [];
  for (let index = 0; index < count; index++) {
    const decoded = clickstream.decode(generator.next(START_MS + Math.floor((SPAN_MS * index) / count)).value);
    if (!decoded.ok) throw new Error('the generator produced an invalid event with badFraction 0');
    rows.push({ ...(decoded.event as Record<string, unknown>), kafka_partition: index % PARTITIONS, kafka_offset: Math.floor(index / PARTITIONS) });
  }
  return rows;
}

/**
 * A bare kafkajs consumer in a group of its own, fetching as the archiver does
 * (same session timeout and bytes per partition) and decoding each message
 * with the source, nothing else: seconds from connect to the last message.
 */
async function bareConsume(kafka: Kafka, topic: string, groupId: string, sessionTimeoutMs: number, expected: number): Promise<number> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: sessionTimeoutMs, maxBytesPerPartition: 4_194_304 });
  const startedNs = process.hrtime.bigint();
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`bare consumer saw ${seen} of ${expected} messages in ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) clickstream.decode(message.value);
            seen += batch.messages.length;
            if (seen >= expected) resolve();
          },
        })
        .catch(reject);
    });
    return seconds(startedNs);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}

/**
 * The archiver end to end: a fresh 4-partition topic of demo events spread
 * over three hours of event time, archived by one in-process Archiver,
 * timed from Archiver.start() until its committed offsets reach the end of
 * every partition; checked by reading the master dataset back with DuckDB.
 * Next to it, in the same run, the rate of the Parquet writer it uses
 * (createDuckDbParquetWriter) on the same kind of rows in-process.
 */
export default defineBenchmark({
  name: 'archive',
  description: `archiver: ${EVENTS.toLocaleString()} events (${PARTITIONS} partitions, ${SPAN_MS / HOUR_MS} h of event time) → master dataset, vs its Parquet writer in-process`,
  async run({ progress }) {
    const root = join(tmpdir(), `braid-bench-archive-${process.pid}-${Date.now().toString(36)}`);
    const dataDir = join(root, 'data');
    const writerDir = join(root, 'writer');
    mkdirSync(writerDir, { recursive: true });
    const figures: Record<string, number> = {};
    try {
      // ---- 1. The Parquet writer alone ---------------------------------------------------------
      const rows = decodedRows(WRITER_EVENTS);
      const batches: ArchiveRow[][] = [];
      for (let start = 0; start < rows.length; start += MAX_ROWS_PER_FILE) batches.push(rows.slice(start, start + MAX_ROWS_PER_FILE));
      const writer = await createDuckDbParquetWriter(clickstream);
      let writerRowsPerS: number;
      try {
        writerRowsPerS = await bestRate(WRITER_EVENTS, 3, async () => {
          for (const [index, batch] of batches.entries()) await writer.write(join(writerDir, `part-${index}.parquet`), batch);
        });
      } finally {
        writer.close();
      }
      progress(`createDuckDbParquetWriter in-process: ${Math.round(writerRowsPerS).toLocaleString()} rows/s (${MAX_ROWS_PER_FILE.toLocaleString()}-row files)`);

      // ---- 2. The archiver end to end ----------------------------------------------------------
      const stack = await stackUp(loadConfig(), progress);
      const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
      const topic = `bench-archive-${suffix}`;
      const clientId = `bench-archive-${suffix}`;
      const config = loadConfig({
        overrides: {
          'kafka.brokers': stack.kafkaBrokers,
          'kafka.clientId': clientId,
          dataDir,
          'sources.clickstream.topic': topic,
          'sources.clickstream.partitions': PARTITIONS,
          'archive.maxRowsPerFile': MAX_ROWS_PER_FILE,
          'archive.flushIntervalMs': FLUSH_INTERVAL_MS,
        },
      });
      const logger = createLogger({ level: 'warn', name: 'bench' });
      const kafka = createKafkaClient({ brokers: stack.kafkaBrokers, clientId: 'braid-bench', logger });
      const admin = kafka.admin();
      await admin.connect();
      let archiver: Archiver | undefined;
      let group: string | undefined;
      const bareGroup = `${clientId}-bare`;
      try {
        await ensureTopics(admin, [{ topic, partitions: PARTITIONS }]);
        progress(`producing ${EVENTS.toLocaleString()} events into ${topic} (${PARTITIONS} partitions, event time ${new Date(START_MS).toISOString()} + ${SPAN_MS / HOUR_MS} h)…`);
        const produced = await produceDemo({
          kafka,
          logger,
          registry: createMetricsRegistry('bench'),
          source: 'clickstream',
          topic,
          partitions: PARTITIONS,
          generator: new ClickstreamGenerator({ seed: 4, disorderMs: 5_000, lateFraction: 0.01, badFraction: 0.001 }),
          ratePerS: Infinity,
          count: EVENTS,
          startMs: START_MS,
          spanMs: SPAN_MS,
        });
        if (produced.sent !== EVENTS) throw new Error(`produced ${produced.sent} of ${EVENTS} events`);
        const valid = produced.byKind.ok + produced.byKind.late;
        const ends = await admin.fetchTopicOffsets(topic);
        const messages = ends.reduce((total, { high, low }) => total + Number(high) - Number(low), 0);
        if (messages !== EVENTS) throw new Error(`the topic holds ${messages} messages, expected ${EVENTS}`);
        progress(`produced ${EVENTS.toLocaleString()} (${produced.byKind.late.toLocaleString()} late, ${produced.byKind.bad.toLocaleString()} malformed) in ${(produced.elapsedMs / 1000).toFixed(1)} s`);

        progress('bare kafkajs consumer (fetch + decode only)…');
        const bareS = await bareConsume(kafka, topic, bareGroup, config.speed.sessionTimeoutMs, EVENTS);
        const bareEventsPerS = EVENTS / bareS;
        progress(`bare kafkajs consumer: ${Math.round(bareEventsPerS).toLocaleString()} events/s (${bareS.toFixed(2)} s, group join included)`);

        progress(`archiver (maxRowsPerFile ${MAX_ROWS_PER_FILE.toLocaleString()}, flushIntervalMs ${FLUSH_INTERVAL_MS})…`);
        const registry = createMetricsRegistry('bench-archive');
        const startedNs = process.hrtime.bigint();
        archiver = await Archiver.start({ config, source: clickstream, logger, registry });
        group = archiver.group;
        const deadline = Date.now() + TIMEOUT_MS;
        let committed = new Map<number, number>();
        for (;;) {
          const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
          committed = new Map((offsets?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]));
          if (ends.every(({ partition, high }) => (committed.get(partition) ?? -1) >= Number(high))) break;
          if (Date.now() > deadline) {
            throw new Error(
              `the archiver did not commit the end offsets in ${TIMEOUT_MS / 1000} s: ` +
                ends.map(({ partition, high }) => `p${partition} ${committed.get(partition) ?? 'none'}/${high}`).join(', '),
            );
          }
          await sleep(OFFSET_POLL_MS);
        }
        const archiveS = seconds(startedNs);
        await archiver.stop();
        archiver = undefined;
        // Time inside flushes (Parquet writes, renames, commits; fetching pauses while a size-triggered one runs).
        const flushSeries = (await (registry.getSingleMetric('braid_archive_flush_duration_seconds') as Histogram | undefined)?.get())?.values ?? [];
        const flushTotal = (suffix: string) =>
          flushSeries.filter(({ metricName }) => metricName === `braid_archive_flush_duration_seconds_${suffix}`).reduce((total, { value }) => total + value, 0);
        const flushS = flushTotal('sum');
        const flushes = flushTotal('count');

        // Read the master dataset back: every valid event exactly once, each in its event-time hour.
        const { files, temporary } = listMasterFiles(dataDir, 'clickstream');
        if (temporary.length > 0) throw new Error(`${temporary.length} .tmp files left in the master dataset`);
        const bytes = files.reduce((total, file) => total + statSync(file.path).size, 0);
        const instance = await DuckDBInstance.create(':memory:');
        const reader = await instance.connect();
        let check: Record<string, unknown>;
        try {
          check = (
            await reader.runAndReadAll(
              `SELECT count(*) AS events, count(DISTINCT (kafka_partition, kafka_offset)) AS distinct_offsets,
                      count(*) FILTER (WHERE strftime(make_timestamp(ts * 1000), '%Y-%m-%d') <> "date"::VARCHAR
                                          OR strftime(make_timestamp(ts * 1000), '%H') <> lpad("hour"::VARCHAR, 2, '0')) AS wrong_hour
               FROM read_parquet(${sqlString(join(sourceRoot(dataDir, 'clickstream'), '**', '*.parquet'))}, hive_partitioning = true)`,
            )
          ).getRowObjectsJS()[0]!;
        } finally {
          reader.closeSync();
          instance.closeSync();
        }
        const archived = Number(check.events);
        if (archived !== valid || Number(check.distinct_offsets) !== valid || Number(check.wrong_hour) !== 0) {
          throw new Error(
            `master dataset: ${archived} events, ${String(check.distinct_offsets)} distinct offsets, ${String(check.wrong_hour)} in the wrong hour; ` +
              `expected ${valid} valid events, each once, each in its hour`,
          );
        }

        const eventsPerS = EVENTS / archiveS;
        figures.archive_events_per_s = Math.round(eventsPerS);
        figures.archive_s = Math.round(archiveS * 100) / 100;
        figures.archive_flush_s = Math.round(flushS * 100) / 100;
        figures.archive_partition_flushes = flushes;
        figures.archive_files = files.length;
        figures.archive_rows_per_file = Math.round(archived / files.length);
        figures.archive_bytes_per_event = Math.round((bytes / archived) * 100) / 100;
        figures.duckdb_appender_rows_per_s = Math.round(writerRowsPerS);
        figures.bare_consume_decode_events_per_s = Math.round(bareEventsPerS);
        figures.archive_ratio_vs_writer = Math.round((eventsPerS / writerRowsPerS) * 1000) / 1000;
        figures.archive_ratio_vs_bare_consumer = Math.round((eventsPerS / bareEventsPerS) * 1000) / 1000;
        progress(
          `archiver: ${EVENTS.toLocaleString()} messages in ${archiveS.toFixed(2)} s from start to committed end offsets ` +
            `(${Math.round(eventsPerS).toLocaleString()} events/s, group join included; ${flushes} partition flushes took ${flushS.toFixed(2)} s of it); ` +
            `${archived.toLocaleString()} valid events in ${files.length} files (${figures.archive_rows_per_file.toLocaleString()} rows/file), ` +
            `${(bytes / 1e6).toFixed(1)} MB, ${figures.archive_bytes_per_event} bytes/event; read back: each once, each in its hour`,
        );
        progress(
          `ratio to the Parquet writer alone: ${figures.archive_ratio_vs_writer} (writing these rows in-process would take ` +
            `${(archived / writerRowsPerS).toFixed(2)} s, fetching and decoding ${bareS.toFixed(2)} s with the join; ` +
            `the last rows wait up to ${FLUSH_INTERVAL_MS} ms for the timed flush); ratio to the bare consumer ${figures.archive_ratio_vs_bare_consumer}`,
        );
        return figures;
      } finally {
        await archiver?.stop().catch((error: unknown) => progress(`stopping the archiver failed: ${(error as Error).message}`));
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
        await admin.deleteGroups([bareGroup, ...(group ? [group] : [])]).catch(() => undefined);
        await admin.disconnect();
        progress(`cleaned up: topic ${topic}, groups ${bareGroup}, ${group ?? '(archiver not started)'}, ${root}`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
