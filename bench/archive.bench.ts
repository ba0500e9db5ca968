import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Admin } from 'kafkajs';
import { Archiver, compactMasterDataset, filesToRead, listMasterFiles } from '../batch/index.ts';
import { ArchiveLines } from '../batch/archive-lines.ts';
import { ARCHIVE_MAX_BYTES_PER_PARTITION } from '../batch/archiver.ts';
import { createDuckDbParquetWriter, type ArchiveRow } from '../batch/parquet-writer.ts';
import { createKafkaClient, ensureTopics } from '../shared/clients/index.ts';
import { loadConfig, sourceSettings, type Config } from '../shared/config/index.ts';
import { ClickstreamGenerator, produceDemo } from '../shared/demo/index.ts';
import { createLogger, type Logger } from '../shared/logging/index.ts';
import { createMetricsRegistry } from '../shared/metrics/index.ts';
import { getSource, parseMessage } from '../shared/sources/index.ts';
import { sqlStringLiteral } from '../shared/sql/index.ts';
import { stackUp } from '../infra/stack/index.ts';
import { bareConsume } from './lib/bare-consumer.ts';
import { bestRate, defineBenchmark } from './lib/benchmark.ts';
import { cpuPerEvent, cpuSnapshot, type CpuSnapshot } from './lib/cpu-usage.ts';

const DAY_MS = 86_400_000;
/** A replay of history: EVENTS events spread evenly over six months of event time, on a PARTITIONS-partition topic. */
const EVENTS = 3_000_000;
const PARTITIONS = 4;
const START_MS = Date.UTC(2026, 0, 1);
const SPAN_MS = Date.UTC(2026, 6, 1) - START_MS;
/**
 * Files roll by size at the default `archive.maxRowsPerFile`, and by time every second, so the last rows wait at
 * most a second for the timed flush (the default 30 s would dominate a replay this short). In a six-month replay a
 * partition's day holds ~4 k events, so a flush writes one file per day it touched whichever rule rolled it.
 */
const FLUSH_INTERVAL_MS = 1_000;
/** One partition's flush at the default `archive.maxRowsPerFile`, for the in-process figures. */
const FLUSH_EVENTS = 200_000;
/**
 * Rounds of (bare consumer, archiver), alternating. `archive_ratio` is best over best, so one slow moment on a
 * shared box does not decide it; `archive_ratio_median` is the median of each round's archiver over the bare run
 * just before it, which a box that drifts between rounds moves less.
 */
const ROUNDS = 4;
const TIMEOUT_MS = 180_000;
const OFFSET_POLL_MS = 20;
const clickstream = getSource('clickstream');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (fromNs: bigint, toNs = process.hrtime.bigint()): number => Number(toNs - fromNs) / 1e9;
const ratioFigure = (value: number) => Math.round(value * 1000) / 1000;
const twoDecimals = (value: number) => Math.round(value * 100) / 100;
const rate = (value: number) => `${Math.round(value).toLocaleString('en-US')} events/s`;

interface ArchiveRound {
  /** Events per second from the archiver's first batch to the end offsets committed. */
  eventsPerS: number;
  seconds: number;
  /** From the last message handed to the archiver to the end offsets committed: the wait for the timed flush, the last write. */
  tailSeconds: number;
  startupMs: number;
  /** Seconds the consumer waited for the Parquet writer to catch up. */
  writerWaitSeconds: number;
  flushes: number;
  cpu: ReturnType<typeof cpuPerEvent> | null;
}

/** Parquet files of a master dataset (each compacted file once) and their bytes. */
function datasetSize(dataDir: string): { files: number; bytes: number; paths: string[] } {
  const paths = filesToRead(listMasterFiles(dataDir, 'clickstream').files).map((file) => file.path);
  return { files: paths.length, bytes: paths.reduce((total, file) => total + statSync(file).size, 0), paths };
}

/** Every valid event exactly once (by Kafka coordinates), each in the folder of its event-time day; throws otherwise. */
async function checkExactlyOnce(dataDir: string, valid: number, when: string): Promise<void> {
  const { files, temporary } = listMasterFiles(dataDir, 'clickstream');
  if (temporary.length > 0) throw new Error(`${when}: ${temporary.length} .tmp files left in the master dataset`);
  const list = filesToRead(files).map((file) => sqlStringLiteral(file.path)).join(', ');
  const instance = await DuckDBInstance.create(':memory:');
  const reader = await instance.connect();
  try {
    const check = (
      await reader.runAndReadAll(
        `SELECT count(*) AS events, count(DISTINCT (_kafka_partition, _kafka_offset)) AS distinct_offsets,
                count(*) FILTER (WHERE strftime(make_timestamp(ts * 1000), '%Y-%m-%d') <> split_part(filename, '/', -2)) AS wrong_day
         FROM read_parquet([${list}], filename = true, hive_partitioning = false)`,
      )
    ).getRowObjectsJS()[0]!;
    if (Number(check.events) !== valid || Number(check.distinct_offsets) !== valid || Number(check.wrong_day) !== 0) {
      throw new Error(
        `${when}: ${String(check.events)} events, ${String(check.distinct_offsets)} distinct offsets, ${String(check.wrong_day)} in the wrong day folder; ` +
          `expected ${valid} valid events, each once, each in its day`,
      );
    }
  } finally {
    reader.closeSync();
    instance.closeSync();
  }
}

/**
 * One in-process Archiver on the topic into an empty master dataset, in a new consumer group: timed from its first
 * batch until its committed offsets reach `ends` on every partition.
 */
async function archiveOnce(options: { config: Config; admin: Admin; logger: Logger; ends: Array<{ partition: number; high: string }> }): Promise<ArchiveRound> {
  const { config, admin, ends } = options;
  const topic = sourceSettings(config, 'clickstream').topic!;
  const registry = createMetricsRegistry('bench-archive');
  const threadsBefore = new Set(cpuSnapshot()?.threads.keys() ?? []);
  const startedNs = process.hrtime.bigint();
  const archiver = await Archiver.start({ config, source: clickstream, logger: options.logger, registry });
  let firstBatchNs: bigint | undefined;
  let cpuAtFirstBatch: CpuSnapshot | null = null;
  const removeListener = archiver.consumer.on(archiver.consumer.events.START_BATCH_PROCESS, () => {
    if (firstBatchNs !== undefined) return;
    cpuAtFirstBatch = cpuSnapshot();
    firstBatchNs = process.hrtime.bigint();
  });
  // When the consumer had handed over the last message of every partition: what is left is the last flush.
  const caughtUp = new Set<number>();
  let consumedNs: bigint | undefined;
  const removeEndListener = archiver.consumer.on(archiver.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (Number(payload.offsetLag) === 0) caughtUp.add(payload.partition);
    if (consumedNs === undefined && caughtUp.size === ends.length) consumedNs = process.hrtime.bigint();
  });
  let doneNs: bigint;
  let cpuAtDone: CpuSnapshot | null;
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const [offsets] = await admin.fetchOffsets({ groupId: archiver.group, topics: [topic] });
      const committed = new Map((offsets?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]));
      if (ends.every(({ partition, high }) => (committed.get(partition) ?? -1) >= Number(high))) break;
      if (Date.now() > deadline) {
        throw new Error(
          `the archiver did not commit the end offsets in ${TIMEOUT_MS / 1000} s: ` +
            ends.map(({ partition, high }) => `p${partition} ${committed.get(partition) ?? 'none'}/${high}`).join(', '),
        );
      }
      await sleep(OFFSET_POLL_MS);
    }
    doneNs = process.hrtime.bigint();
    cpuAtDone = cpuSnapshot();
  } finally {
    removeListener();
    removeEndListener();
    await archiver.stop();
  }
  if (firstBatchNs === undefined) throw new Error('the archiver committed the end offsets without a batch');
  const metric = async (name: string): Promise<Array<{ value: number; metricName?: string }>> => (await registry.getSingleMetric(name)?.get())?.values ?? [];
  const flushes = (await metric('braid_archive_flush_duration_seconds')).find(({ metricName }) => metricName === 'braid_archive_flush_duration_seconds_count')?.value ?? 0;
  const writerWaitSeconds = (await metric('braid_archive_writer_wait_seconds_total')).reduce((total, { value }) => total + value, 0);
  const runSeconds = seconds(firstBatchNs, doneNs);
  return {
    eventsPerS: EVENTS / runSeconds,
    seconds: runSeconds,
    tailSeconds: consumedNs === undefined ? Number.NaN : seconds(consumedNs, doneNs),
    startupMs: Number(firstBatchNs - startedNs) / 1e6,
    writerWaitSeconds,
    flushes,
    cpu: cpuAtFirstBatch && cpuAtDone ? cpuPerEvent(cpuAtFirstBatch, cpuAtDone, EVENTS, threadsBefore) : null,
  };
}

/**
 * Where the archiver's time goes, in-process, on one flush's worth of messages as the replay gives them to a
 * partition (FLUSH_EVENTS events over the days they span there): the consumer thread's work per event (decode
 * alone, as the bare loop does; decode + copying the message into the partition's JSON lines), and DuckDB's
 * (those lines to one Parquet file per day), next to the same rows through the appender value by value.
 */
async function measureInProcess(scratchDir: string, progress: (message: string) => void): Promise<Record<string, number>> {
  mkdirSync(scratchDir, { recursive: true });
  const flushSpanMs = Math.round((SPAN_MS * FLUSH_EVENTS * PARTITIONS) / EVENTS);
  const generator = new ClickstreamGenerator({ seed: 2, disorderMs: 5_000 });
  const values = Array.from({ length: FLUSH_EVENTS }, (_, index) => Buffer.from(generator.next(START_MS + Math.floor((flushSpanMs * index) / FLUSH_EVENTS)).value));
  const decodeEventsPerS = await bestRate(FLUSH_EVENTS, 3, () => {
    for (const value of values) clickstream.decode(value);
  });
  // As the archiver's eachBatch does it, offsets as kafkajs gives them (decimal text).
  const offsets = values.map((_, index) => String(index));
  let lines = ArchiveLines.for(clickstream);
  const bufferEventsPerS = await bestRate(FLUSH_EVENTS, 3, () => {
    lines = lines.next();
    for (let index = 0; index < values.length; index++) {
      const raw = values[index]!;
      const value = parseMessage(raw);
      const decoded = typeof value === 'string' ? undefined : clickstream.validate(value);
      if (decoded?.ok) lines.add(raw, value as Record<string, unknown>, decoded.event, offsets[index]!);
    }
  });
  const days = [...lines.days.values()].map((day) => ({
    dayMs: day.dayMs,
    partition: 0,
    file: join(scratchDir, `${day.dayMs}.parquet`),
    scratchFile: join(scratchDir, `${day.dayMs}.json.tmp`),
    lines: day.contents(),
    longestLine: day.longestLine,
  }));
  const rowsByDay = new Map<number, ArchiveRow[]>(days.map((day) => [day.dayMs, []]));
  for (const [offset, value] of values.entries()) {
    const decoded = clickstream.decode(value);
    if (decoded.ok) rowsByDay.get(Math.floor((decoded.event.ts as number) / DAY_MS) * DAY_MS)!.push({ ...decoded.event, _kafka_partition: 0, _kafka_offset: offset });
  }
  const writer = await createDuckDbParquetWriter(clickstream);
  let writerRowsPerS: number;
  let appenderRowsPerS: number;
  try {
    writerRowsPerS = await bestRate(lines.rows, 3, () => writer.writeLines(days));
    appenderRowsPerS = await bestRate(lines.rows, 1, async () => {
      for (const day of days) await writer.write(day.file, rowsByDay.get(day.dayMs)!);
    });
  } finally {
    writer.close();
  }
  const bytes = days.reduce((total, day) => total + statSync(day.file).size, 0);
  progress(
    `in-process, one flush of ${FLUSH_EVENTS.toLocaleString('en-US')} events over ${days.length} days: consumer thread: decode alone ${rate(decodeEventsPerS)}, ` +
      `decode + copy into JSON lines ${rate(bufferEventsPerS)}; DuckDB: JSON lines → ${days.length} Parquet files ${Math.round(writerRowsPerS).toLocaleString('en-US')} rows/s ` +
      `(${(bytes / lines.rows).toFixed(1)} bytes/row), the same rows through the appender ${Math.round(appenderRowsPerS).toLocaleString('en-US')} rows/s`,
  );
  rmSync(scratchDir, { recursive: true, force: true });
  return {
    decode_events_per_s: Math.round(decodeEventsPerS),
    decode_to_lines_events_per_s: Math.round(bufferEventsPerS),
    writer_lines_rows_per_s: Math.round(writerRowsPerS),
    writer_appender_rows_per_s: Math.round(appenderRowsPerS),
    flush_files: days.length,
  };
}

/**
 * The archiver on a replay of history: EVENTS demo events (with disorder, late and malformed messages) spread over
 * six months of event time on a PARTITIONS-partition topic, produced once and read by every round. Rounds
 * alternate a bare kafkajs loop that only fetches and decodes (bench/lib/bare-consumer.ts, the speed benchmark's
 * baseline too) with one in-process Archiver into an empty master dataset in a new consumer group, each timed from
 * its first batch (the archiver until its committed offsets reach the end of every partition), each archiver round
 * checked exactly once by reading the dataset back with DuckDB. The best round's dataset is then compacted as
 * `braid compact` would once the days are closed, and its files and bytes compared with the same rows as one
 * Parquet file. In-process figures beside them say where the archiver's time goes.
 */
export default defineBenchmark({
  name: 'archive',
  description:
    `archiver: a replay of ${(EVENTS / 1e6).toFixed(0)} M events over 6 months of event time (${PARTITIONS} partitions) → master dataset, ` +
    `vs a bare kafkajs decode loop; then compaction`,
  async run({ progress }) {
    const root = join(tmpdir(), `braid-bench-archive-${process.pid}-${Date.now().toString(36)}`);
    mkdirSync(root, { recursive: true });
    const figures: Record<string, number> = {};
    try {
      // ---- 1. In-process: where the archiver's time goes ---------------------------------------
      Object.assign(figures, await measureInProcess(join(root, 'in-process'), progress));

      // ---- 2. Kafka: produce once, then rounds of (bare loop, archiver) ------------------------
      const baseConfig = loadConfig();
      const stack = await stackUp(baseConfig, progress);
      const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
      const topic = `bench-archive-${suffix}`;
      const logger = createLogger({ level: 'warn', name: 'bench' });
      const kafka = createKafkaClient({ brokers: stack.kafkaBrokers, clientId: 'braid-bench', logger });
      const admin = kafka.admin();
      await admin.connect();
      const groups: string[] = [];
      try {
        await ensureTopics(admin, [{ topic, partitions: PARTITIONS }]);
        progress(
          `producing ${EVENTS.toLocaleString('en-US')} events into ${topic} (${PARTITIONS} partitions, event time ` +
            `${new Date(START_MS).toISOString().slice(0, 10)} + ${Math.round(SPAN_MS / DAY_MS)} days)…`,
        );
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
          batchSize: 5_000,
        });
        if (produced.sent !== EVENTS) throw new Error(`produced ${produced.sent} of ${EVENTS} events`);
        const valid = produced.byKind.ok + produced.byKind.late;
        const ends = await admin.fetchTopicOffsets(topic);
        const messages = ends.reduce((total, { high, low }) => total + Number(high) - Number(low), 0);
        if (messages !== EVENTS) throw new Error(`the topic holds ${messages} messages, expected ${EVENTS}`);
        progress(
          `produced ${EVENTS.toLocaleString('en-US')} (${produced.byKind.late.toLocaleString('en-US')} late, ` +
            `${produced.byKind.bad.toLocaleString('en-US')} malformed) in ${(produced.elapsedMs / 1000).toFixed(1)} s`,
        );

        let bestBare = 0;
        let best: (ArchiveRound & { dataDir: string }) | undefined;
        const roundRatios: number[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          const bareGroup = `bench-archive-${suffix}-bare-${round}`;
          groups.push(bareGroup);
          const bare = await bareConsume({
            kafka,
            topic,
            groupId: bareGroup,
            expected: EVENTS,
            source: clickstream,
            // The archiver's fetch settings, so both fetch alike.
            consumer: { sessionTimeout: baseConfig.speed.sessionTimeoutMs, maxBytesPerPartition: ARCHIVE_MAX_BYTES_PER_PARTITION },
            timeoutMs: TIMEOUT_MS,
          });
          if (bare.eventsPerS > bestBare && bare.cpu) {
            figures.bare_cpu_main_us_per_event = twoDecimals(bare.cpu.mainUs);
            figures.bare_cpu_other_threads_us_per_event = twoDecimals(bare.cpu.otherThreadsUs);
            figures.bare_machine_idle_pct = twoDecimals(bare.cpu.machineIdlePct);
          }
          bestBare = Math.max(bestBare, bare.eventsPerS);
          progress(
            `round ${round} of ${ROUNDS}: bare kafkajs loop ${rate(bare.eventsPerS)} (${bare.decoded.toLocaleString('en-US')} decoded)` +
              (bare.cpu ? `; CPU µs/event: its thread ${bare.cpu.mainUs.toFixed(2)}, other threads ${bare.cpu.otherThreadsUs.toFixed(2)}; machine idle ${bare.cpu.machineIdlePct.toFixed(0)} %` : ''),
          );

          const config = loadConfig({
            overrides: {
              'kafka.brokers': stack.kafkaBrokers,
              'kafka.clientId': `bench-archive-${suffix}-${round}`,
              dataDir: join(root, `data-${round}`),
              'sources.clickstream.topic': topic,
              'sources.clickstream.partitions': PARTITIONS,
              'archive.flushIntervalMs': FLUSH_INTERVAL_MS,
            },
          });
          groups.push(`${config.kafka.clientId}-archive.clickstream`);
          const run = await archiveOnce({ config, admin, logger, ends });
          await checkExactlyOnce(config.dataDir, valid, `round ${round}`);
          const size = datasetSize(config.dataDir);
          const roundRatio = run.eventsPerS / bare.eventsPerS;
          roundRatios.push(roundRatio);
          progress(
            `round ${round} of ${ROUNDS}: archiver ${rate(run.eventsPerS)} first batch → end offsets committed ` +
              `(${run.seconds.toFixed(2)} s, of which ${run.tailSeconds.toFixed(2)} s after the last message was consumed; start-up ${Math.round(run.startupMs)} ms, not counted); ratio to this round's bare loop ${roundRatio.toFixed(3)}; ` +
              `${run.flushes} partition flushes (the consumer waited ${run.writerWaitSeconds.toFixed(2)} s for the writer), ${size.files} files, ${(size.bytes / 1e6).toFixed(1)} MB; read back: every valid event once, each in its day` +
              (run.cpu
                ? `; CPU µs/event: consumer thread ${run.cpu.mainUs.toFixed(2)}, other threads ${(run.cpu.otherThreadsUs + run.cpu.newThreadsUs).toFixed(2)}; machine idle ${run.cpu.machineIdlePct.toFixed(0)} %`
                : ''),
          );
          // Only the best round's dataset is kept, for the compaction below.
          if (!best || run.eventsPerS > best.eventsPerS) {
            if (best) rmSync(best.dataDir, { recursive: true, force: true });
            best = { ...run, dataDir: config.dataDir };
          } else {
            rmSync(config.dataDir, { recursive: true, force: true });
          }
        }
        const sortedRatios = [...roundRatios].sort((a, b) => a - b);
        Object.assign(figures, {
          bare_events_per_s: Math.round(bestBare),
          archive_events_per_s: Math.round(best!.eventsPerS),
          archive_ratio: ratioFigure(best!.eventsPerS / bestBare),
          archive_ratio_median: ratioFigure(sortedRatios[Math.floor(sortedRatios.length / 2)]!),
          archive_ratio_min: ratioFigure(sortedRatios[0]!),
          archive_ratio_max: ratioFigure(sortedRatios[sortedRatios.length - 1]!),
          archive_s: twoDecimals(best!.seconds),
          archive_tail_s: twoDecimals(best!.tailSeconds),
          archive_startup_ms: Math.round(best!.startupMs),
          archive_partition_flushes: best!.flushes,
          archive_writer_wait_s: twoDecimals(best!.writerWaitSeconds),
        });
        if (best!.cpu) {
          figures.archive_cpu_main_us_per_event = twoDecimals(best!.cpu.mainUs);
          figures.archive_cpu_other_threads_us_per_event = twoDecimals(best!.cpu.otherThreadsUs + best!.cpu.newThreadsUs);
          figures.archive_machine_idle_pct = twoDecimals(best!.cpu.machineIdlePct);
        }
        progress(
          `best of ${ROUNDS}: archiver ${rate(best!.eventsPerS)}, bare loop ${rate(bestBare)}: ratio ${figures.archive_ratio}; ` +
            `round by round ${roundRatios.map((ratio) => ratio.toFixed(3)).join(', ')}, median ${figures.archive_ratio_median}`,
        );

        // ---- 3. Compaction of the best round's dataset, against the rows as one file ----------
        const dataDir = best!.dataDir;
        const before = datasetSize(dataDir);
        const config = loadConfig({ overrides: { dataDir, 'sources.clickstream.topic': topic, 'sources.clickstream.partitions': PARTITIONS } });
        const compactStartedNs = process.hrtime.bigint();
        const compacted = await compactMasterDataset({ config, source: clickstream, nowEventTimeMs: START_MS + SPAN_MS + 30 * DAY_MS });
        const compactSeconds = seconds(compactStartedNs);
        await checkExactlyOnce(dataDir, valid, 'after compaction');
        const after = datasetSize(dataDir);
        const singleFile = join(root, 'single.parquet');
        const instance = await DuckDBInstance.create(':memory:');
        const connection = await instance.connect();
        try {
          await connection.run(
            `COPY (SELECT * FROM read_parquet([${after.paths.map(sqlStringLiteral).join(', ')}]) ORDER BY ts) TO ${sqlStringLiteral(singleFile)} (FORMAT parquet, COMPRESSION zstd)`,
          );
        } finally {
          connection.closeSync();
          instance.closeSync();
        }
        const singleBytes = statSync(singleFile).size;
        const perMillion = (count: number) => twoDecimals((count * 1e6) / valid);
        Object.assign(figures, {
          files_before_compaction: before.files,
          bytes_before_compaction: before.bytes,
          files_per_m_events_before: perMillion(before.files),
          bytes_per_m_events_before: Math.round(perMillion(before.bytes)),
          files_after_compaction: after.files,
          bytes_after_compaction: after.bytes,
          files_per_m_events: perMillion(after.files),
          bytes_per_m_events: Math.round(perMillion(after.bytes)),
          single_file_bytes: singleBytes,
          bytes_vs_single_file: ratioFigure(after.bytes / singleBytes),
          compaction_s: twoDecimals(compactSeconds),
        });
        progress(
          `compaction (${compacted.length} day folders, ${compactSeconds.toFixed(1)} s; read back: every valid event once, each in its day): ` +
            `${before.files} files, ${(before.bytes / 1e6).toFixed(1)} MB → ${after.files} files, ${(after.bytes / 1e6).toFixed(1)} MB; ` +
            `the same ${valid.toLocaleString('en-US')} rows as one zstd Parquet file: ${(singleBytes / 1e6).toFixed(1)} MB (ratio ${figures.bytes_vs_single_file})`,
        );
        return figures;
      } finally {
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
        await admin.deleteGroups(groups).catch(() => undefined);
        await admin.disconnect();
        progress(`cleaned up: topic ${topic}, ${groups.length} consumer groups, ${root}`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
