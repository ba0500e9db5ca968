import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Admin, Kafka } from 'kafkajs';
import { Archiver, listMasterFiles, sourceRoot } from '../batch/index.ts';
import { createDuckDbParquetWriter, type ArchiveRow } from '../batch/parquet-writer.ts';
import { createKafkaClient, ensureTopics } from '../shared/clients/index.ts';
import { loadConfig, sourceSettings, type Config } from '../shared/config/index.ts';
import { ClickstreamGenerator, produceDemo } from '../shared/demo/index.ts';
import { createLogger, type Logger } from '../shared/logging/index.ts';
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
/** Archiver runs, each into an empty master dataset in a new consumer group; the best counts (the box is shared). */
const ROUNDS = 2;
const OFFSET_POLL_MS = 20;
/** In-process Parquet writer: the same decoded rows, as MAX_ROWS_PER_FILE-row files. */
const WRITER_EVENTS = 200_000;
/** In-process decode of Kafka message values, alone and as the archiver's eachBatch turns each into a row. */
const DECODE_EVENTS = 200_000;
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
    rows.push({ ...(decoded.event as Record<string, unknown>), _kafka_partition: index % PARTITIONS, _kafka_offset: Math.floor(index / PARTITIONS) });
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

interface ArchiveRun {
  seconds: number;
  /** Committed total (sum over partitions) each time it moved. */
  timeline: string[];
  flushSeconds: number;
  flushes: number;
  files: number;
  bytes: number;
  archived: number;
}

/**
 * One in-process Archiver on the topic, from Archiver.start() until its
 * committed offsets reach `ends` on every partition; then the master dataset
 * is read back: every valid event exactly once, each in its event-time hour.
 */
async function archiveOnce(options: {
  config: Config;
  admin: Admin;
  logger: Logger;
  ends: Array<{ partition: number; high: string }>;
  valid: number;
  started: (group: string) => void;
}): Promise<ArchiveRun> {
  const { config, admin, ends } = options;
  const topic = sourceSettings(config, 'clickstream').topic!;
  const registry = createMetricsRegistry('bench-archive');
  const startedNs = process.hrtime.bigint();
  const archiver = await Archiver.start({ config, source: clickstream, logger: options.logger, registry });
  options.started(archiver.group);
  const timeline: string[] = [];
  let runSeconds: number;
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    let committed = new Map<number, number>();
    let lastTotal = 0;
    for (;;) {
      const [offsets] = await admin.fetchOffsets({ groupId: archiver.group, topics: [topic] });
      committed = new Map((offsets?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]));
      const total = [...committed.values()].reduce((sum, offset) => sum + Math.max(0, offset), 0);
      if (total !== lastTotal) {
        timeline.push(`${seconds(startedNs).toFixed(2)} s → ${Math.round(total / 1000)} k`);
        lastTotal = total;
      }
      if (ends.every(({ partition, high }) => (committed.get(partition) ?? -1) >= Number(high))) break;
      if (Date.now() > deadline) {
        throw new Error(
          `the archiver did not commit the end offsets in ${TIMEOUT_MS / 1000} s: ` +
            ends.map(({ partition, high }) => `p${partition} ${committed.get(partition) ?? 'none'}/${high}`).join(', '),
        );
      }
      await sleep(OFFSET_POLL_MS);
    }
    runSeconds = seconds(startedNs);
  } finally {
    await archiver.stop();
  }
  // Time inside partition flushes (writes, renames, commits; fetching pauses while a size-triggered flush runs).
  const flushSeries = (await (registry.getSingleMetric('braid_archive_flush_duration_seconds') as Histogram | undefined)?.get())?.values ?? [];
  const flushTotal = (suffix: string) =>
    flushSeries.filter(({ metricName }) => metricName === `braid_archive_flush_duration_seconds_${suffix}`).reduce((total, { value }) => total + value, 0);

  const { files, temporary } = listMasterFiles(config.dataDir, 'clickstream');
  if (temporary.length > 0) throw new Error(`${temporary.length} .tmp files left in the master dataset`);
  const instance = await DuckDBInstance.create(':memory:');
  const reader = await instance.connect();
  let check: Record<string, unknown>;
  try {
    check = (
      await reader.runAndReadAll(
        `SELECT count(*) AS events, count(DISTINCT (_kafka_partition, _kafka_offset)) AS distinct_offsets,
                count(*) FILTER (WHERE strftime(make_timestamp(ts * 1000), '%Y-%m-%d') <> split_part(filename, '/', -2)) AS wrong_day
         FROM read_parquet(${sqlString(join(sourceRoot(config.dataDir, 'clickstream'), '**', '*.parquet'))}, filename = true, hive_partitioning = false)`,
      )
    ).getRowObjectsJS()[0]!;
  } finally {
    reader.closeSync();
    instance.closeSync();
  }
  const archived = Number(check.events);
  if (archived !== options.valid || Number(check.distinct_offsets) !== options.valid || Number(check.wrong_day) !== 0) {
    throw new Error(
      `master dataset: ${archived} events, ${String(check.distinct_offsets)} distinct offsets, ${String(check.wrong_day)} in the wrong day folder; ` +
        `expected ${options.valid} valid events, each once, each in its hour`,
    );
  }
  return {
    seconds: runSeconds,
    timeline,
    flushSeconds: flushTotal('sum'),
    flushes: flushTotal('count'),
    files: files.length,
    bytes: files.reduce((total, file) => total + statSync(file.path).size, 0),
    archived,
  };
}

/**
 * The archiver end to end: a fresh 4-partition topic of demo events spread
 * over three hours of event time (with disorder, late and malformed
 * messages), archived by one in-process Archiver, timed from
 * Archiver.start() until its committed offsets reach the end of every
 * partition (best of ROUNDS runs), checked by reading the master dataset
 * back with DuckDB. Next to it, in the same run: the Parquet writer it uses
 * (createDuckDbParquetWriter) on the same kind of rows in-process, and a bare
 * kafkajs consumer that only fetches and decodes.
 */
export default defineBenchmark({
  name: 'archive',
  description: `archiver: ${EVENTS.toLocaleString()} events (${PARTITIONS} partitions, ${SPAN_MS / HOUR_MS} h of event time) → master dataset, vs its Parquet writer in-process`,
  async run({ progress }) {
    const root = join(tmpdir(), `braid-bench-archive-${process.pid}-${Date.now().toString(36)}`);
    const writerDir = join(root, 'writer');
    mkdirSync(writerDir, { recursive: true });
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

      // ---- 2. Decoding alone, and into the archiver's row shape (archiver.ts eachBatch: a spread plus the coordinates)
      const generator = new ClickstreamGenerator({ seed: 2, disorderMs: 5_000 });
      const values = Array.from({ length: DECODE_EVENTS }, (_, index) => Buffer.from(generator.next(START_MS + index).value));
      const decodeEventsPerS = await bestRate(DECODE_EVENTS, 3, () => {
        for (const value of values) clickstream.decode(value);
      });
      const decodeToRowEventsPerS = await bestRate(DECODE_EVENTS, 3, () => {
        const buffered: ArchiveRow[] = [];
        for (const [offset, value] of values.entries()) {
          const decoded = clickstream.decode(value);
          if (decoded.ok) buffered.push({ ...(decoded.event as Record<string, unknown>), _kafka_partition: 0, _kafka_offset: offset });
        }
      });
      progress(
        `decode in-process: ${Math.round(decodeEventsPerS).toLocaleString()} events/s; decode + the archiver's row spread: ` +
          `${Math.round(decodeToRowEventsPerS).toLocaleString()} events/s`,
      );

      // ---- 3. Kafka: produce, a bare consumer, the archiver ------------------------------------
      const stack = await stackUp(loadConfig(), progress);
      const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
      const topic = `bench-archive-${suffix}`;
      const logger = createLogger({ level: 'warn', name: 'bench' });
      const kafka = createKafkaClient({ brokers: stack.kafkaBrokers, clientId: 'braid-bench', logger });
      const admin = kafka.admin();
      await admin.connect();
      const groups: string[] = [];
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
        progress(
          `produced ${EVENTS.toLocaleString()} (${produced.byKind.late.toLocaleString()} late, ${produced.byKind.bad.toLocaleString()} malformed) ` +
            `in ${(produced.elapsedMs / 1000).toFixed(1)} s`,
        );

        const bareGroup = `bench-archive-${suffix}-bare`;
        groups.push(bareGroup);
        progress('bare kafkajs consumer (fetch + decode only)…');
        const bareS = await bareConsume(kafka, topic, bareGroup, loadConfig().speed.sessionTimeoutMs, EVENTS);
        const bareEventsPerS = EVENTS / bareS;
        progress(`bare kafkajs consumer: ${Math.round(bareEventsPerS).toLocaleString()} events/s (${bareS.toFixed(2)} s, group join included)`);

        let best: ArchiveRun | undefined;
        for (let round = 1; round <= ROUNDS; round++) {
          progress(`archiver, run ${round} of ${ROUNDS} (maxRowsPerFile ${MAX_ROWS_PER_FILE.toLocaleString()}, flushIntervalMs ${FLUSH_INTERVAL_MS})…`);
          const config = loadConfig({
            overrides: {
              'kafka.brokers': stack.kafkaBrokers,
              'kafka.clientId': `bench-archive-${suffix}-${round}`,
              dataDir: join(root, `data-${round}`),
              'sources.clickstream.topic': topic,
              'sources.clickstream.partitions': PARTITIONS,
              'archive.maxRowsPerFile': MAX_ROWS_PER_FILE,
              'archive.flushIntervalMs': FLUSH_INTERVAL_MS,
            },
          });
          const run = await archiveOnce({ config, admin, logger, ends, valid, started: (group) => groups.push(group) });
          progress(
            `  ${run.seconds.toFixed(2)} s from start to committed end offsets (${Math.round(EVENTS / run.seconds).toLocaleString()} events/s, ` +
              `group join included); ${run.flushes} partition flushes took ${run.flushSeconds.toFixed(2)} s of it; ` +
              `${run.files} files (${Math.round(run.archived / run.files).toLocaleString()} rows/file), ${(run.bytes / 1e6).toFixed(1)} MB; ` +
              `read back: ${run.archived.toLocaleString()} valid events, each once, each in its hour`,
          );
          progress(`  committed offsets (sum over partitions): ${run.timeline.join(', ')}`);
          if (!best || run.seconds < best.seconds) best = run;
          rmSync(config.dataDir, { recursive: true, force: true });
        }

        const eventsPerS = EVENTS / best!.seconds;
        const figures: Record<string, number> = {
          archive_events_per_s: Math.round(eventsPerS),
          archive_s: Math.round(best!.seconds * 100) / 100,
          archive_flush_s: Math.round(best!.flushSeconds * 100) / 100,
          archive_partition_flushes: best!.flushes,
          archive_files: best!.files,
          archive_rows_per_file: Math.round(best!.archived / best!.files),
          archive_bytes_per_event: Math.round((best!.bytes / best!.archived) * 100) / 100,
          duckdb_appender_rows_per_s: Math.round(writerRowsPerS),
          decode_events_per_s: Math.round(decodeEventsPerS),
          decode_to_row_events_per_s: Math.round(decodeToRowEventsPerS),
          bare_consume_decode_events_per_s: Math.round(bareEventsPerS),
          archive_ratio_vs_writer: Math.round((eventsPerS / writerRowsPerS) * 1000) / 1000,
          archive_ratio_vs_bare_consumer: Math.round((eventsPerS / bareEventsPerS) * 1000) / 1000,
        };
        progress(
          `best archiver run: ${Math.round(eventsPerS).toLocaleString()} events/s; ratio to the Parquet writer alone ${figures.archive_ratio_vs_writer} ` +
            `(it would write these rows in ${(best!.archived / writerRowsPerS).toFixed(2)} s), to the bare consumer ${figures.archive_ratio_vs_bare_consumer} ` +
            `(${bareS.toFixed(2)} s to fetch and decode them); the last rows wait up to ${FLUSH_INTERVAL_MS} ms for the timed flush`,
        );
        return figures;
      } finally {
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
        await admin.deleteGroups(groups).catch(() => undefined);
        await admin.disconnect();
        progress(`cleaned up: topic ${topic}, groups ${groups.join(', ')}, ${root}`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
