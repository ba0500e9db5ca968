import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { createKafkaClient } from '../shared/clients/index.ts';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics/index.ts';
import type { Source } from '../shared/sources/index.ts';
import type { View } from '../shared/views/index.ts';
import { completeFiles, dayFolder, dayOf, listMasterFiles, masterFileName, partitionCoverage, removeFiles } from './master-dataset.ts';
import { checkMasterSchema } from './master-schema.ts';
import { createDuckDbParquetWriter, type ArchiveRow, type ParquetWriter } from './parquet-writer.ts';


interface PartitionBuffer {
  partition: number;
  /** First offset not yet on disk: where this buffer starts. */
  startOffset: number | null;
  /** Offset after the last message read into the buffer. */
  nextOffset: number | null;
  rows: ArchiveRow[];
  soughtTo: number | null;
}

function archiveMetrics(registry: Registry) {
  const registers = [registry];
  return {
    events: new Counter({ name: 'braid_archive_events_total', help: 'Events written to the master dataset, per source.', labelNames: ['source'], registers }),
    skipped: new Counter({ name: 'braid_archive_invalid_skipped_total', help: 'Malformed or schema-invalid messages not archived (they belong in <topic>.dlq), per source.', labelNames: ['source'], registers }),
    bytes: new Counter({ name: 'braid_archive_bytes_total', help: 'Parquet bytes written, per source.', labelNames: ['source'], registers }),
    files: new Counter({ name: 'braid_archive_files_total', help: 'Parquet files written, per source.', labelNames: ['source'], registers }),
    flushSeconds: new Histogram({
      name: 'braid_archive_flush_duration_seconds',
      help: 'Duration of one partition flush (write + rename).',
      labelNames: ['source'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    lag: new Gauge({ name: 'braid_archive_consumer_lag_messages', help: 'Messages behind the partition high watermark.', labelNames: ['topic', 'partition'], registers }),
  };
}

/**
 * Archives one source's topic into the master dataset, exactly once: files
 * appear only by rename once complete; Kafka offsets are committed after the
 * rename; on (re)assignment a partition resumes from what is on disk, not from
 * Kafka's committed offset, and files of a flush a crash left half-renamed are
 * removed and rewritten. Before renaming, a flush re-reads the partition's
 * coverage on disk and stands down if another archiver (a zombie after a
 * rebalance) got there first.
 *
 * @example
 * const archiver = await Archiver.start({ config, source: clickstream, logger, registry });
 * await archiver.stop(); // writes what it holds, commits, leaves the group
 */
export class Archiver {
  private readonly buffers = new Map<number, PartitionBuffer>();
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly metrics: ReturnType<typeof archiveMetrics>;
  private readonly log: Logger;
  readonly group: string;

  private constructor(
    private readonly config: Config,
    private readonly source: Source,
    private readonly topic: string,
    private readonly consumer: Consumer,
    private readonly writer: ParquetWriter,
    logger: Logger,
    registry: Registry,
  ) {
    this.metrics = archiveMetrics(registry);
    this.group = `${config.kafka.clientId}-archive.${source.name}`;
    this.log = logger.child({ source: source.name, topic });
  }

  static async start(options: { config: Config; source: Source; logger: Logger; registry: Registry; /** Named in a refusal when the source changed in a way its files cannot be read with. */ views?: readonly View[] }): Promise<Archiver> {
    const { config, source, logger } = options;
    const topic = sourceSettings(config, source.name).topic ?? source.topic;
    const kafka = createKafkaClient({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-archive`, logger });
    const group = `${config.kafka.clientId}-archive.${source.name}`;
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: config.speed.sessionTimeoutMs, maxBytesPerPartition: 4_194_304 });
    // New files must agree with what the dataset already holds: refuse to start on a change that cannot be read back.
    await checkMasterSchema({ source, files: completeFiles(listMasterFiles(config.dataDir, source.name).files), ...(options.views ? { views: options.views } : {}) });
    const writer = await createDuckDbParquetWriter(source);
    const archiver = new Archiver(config, source, topic, consumer, writer, logger, options.registry);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[topic] ?? []);
      for (const partition of [...archiver.buffers.keys()]) if (!assigned.has(partition)) archiver.buffers.delete(partition);
      archiver.log.info({ partitions: [...assigned] }, 'partitions assigned');
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => archiver.eachBatch(payload) });
    archiver.timer = setInterval(() => {
      archiver.flush().catch((error: unknown) => archiver.log.error({ err: error }, 'archive flush failed'));
    }, config.archive.flushIntervalMs);
    archiver.log.info({ group, dataDir: config.dataDir }, 'archiver started');
    return archiver;
  }

  private restore(partition: number): PartitionBuffer {
    const { files, temporary } = listMasterFiles(this.config.dataDir, this.source.name);
    removeFiles(temporary.filter((file) => path.basename(file).startsWith(`${this.topic}-p${partition}-`)));
    const coverage = partitionCoverage(files, this.topic, partition);
    if (coverage.incomplete.length > 0) {
      this.log.warn({ partition, files: coverage.incomplete.map((file) => file.path) }, 'removing files of an unfinished flush; they are rewritten');
      removeFiles(coverage.incomplete);
    }
    const buffer: PartitionBuffer = { partition, startOffset: coverage.resumeOffset, nextOffset: coverage.resumeOffset, rows: [], soughtTo: null };
    this.buffers.set(partition, buffer);
    this.log.info({ partition, resumeOffset: coverage.resumeOffset }, 'partition resumes from the master dataset on disk');
    return buffer;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    const buffer = this.buffers.get(batch.partition) ?? this.restore(batch.partition);
    const first = Number(batch.messages[0]!.offset);
    if (buffer.nextOffset !== null && first > buffer.nextOffset && buffer.soughtTo !== buffer.nextOffset) {
      buffer.soughtTo = buffer.nextOffset;
      this.consumer.seek({ topic: this.topic, partition: batch.partition, offset: String(buffer.nextOffset) });
      return;
    }
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      const offset = Number(message.offset);
      if (buffer.nextOffset === null || offset >= buffer.nextOffset) {
        buffer.startOffset ??= offset;
        const decoded = this.source.decode(message.value);
        if (decoded.ok) {
          // The decoded event is ours alone: add the coordinates to it rather than copy it (a copy cost more than decoding).
          const row = decoded.event as ArchiveRow;
          row._kafka_partition = batch.partition;
          row._kafka_offset = offset;
          buffer.rows.push(row);
        }
        else this.metrics.skipped.inc({ source: this.source.name });
        buffer.nextOffset = offset + 1;
      }
      resolveOffset(message.offset);
    }
    this.metrics.lag.set({ topic: this.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - (buffer.nextOffset ?? first)));
    if (buffer.rows.length >= this.config.archive.maxRowsPerFile) await this.flush();
    await heartbeat();
  }

  /** Writes every partition's buffer; one flush at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    this.flushing = (async () => {
      for (const buffer of this.buffers.values()) await this.flushPartition(buffer);
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushPartition(buffer: PartitionBuffer): Promise<void> {
    if (buffer.nextOffset === null || buffer.startOffset === null || buffer.nextOffset === buffer.startOffset) return;
    const first = buffer.startOffset;
    const last = buffer.nextOffset - 1;
    const rows = buffer.rows;
    buffer.rows = [];
    buffer.startOffset = buffer.nextOffset;
    const timer = this.metrics.flushSeconds.startTimer({ source: this.source.name });

    if (rows.length > 0) {
      const timeField = this.source.timeField;
      const byDay = new Map<number, { rows: ArchiveRow[]; minTimeMs: number; maxTimeMs: number }>();
      for (const row of rows) {
        const time = row[timeField] as number;
        const day = dayOf(time);
        let group = byDay.get(day);
        if (!group) byDay.set(day, (group = { rows: [], minTimeMs: time, maxTimeMs: time }));
        group.rows.push(row);
        if (time < group.minTimeMs) group.minTimeMs = time;
        if (time > group.maxTimeMs) group.maxTimeMs = time;
      }
      const days = [...byDay.keys()].sort((a, b) => a - b);
      const written: Array<{ temporary: string; final: string }> = [];
      for (const [index, day] of days.entries()) {
        const folder = dayFolder(this.config.dataDir, this.source.name, day);
        mkdirSync(folder, { recursive: true });
        const group = byDay.get(day)!;
        const name = masterFileName({
          topic: this.topic,
          partition: buffer.partition,
          firstOffset: first,
          lastOffset: last,
          minTimeMs: group.minTimeMs,
          maxTimeMs: group.maxTimeMs,
          index: index + 1,
          count: days.length,
        });
        const final = path.join(folder, name);
        const temporary = `${final}.${randomBytes(4).toString('hex')}.tmp`;
        await this.writer.write(temporary, group.rows);
        written.push({ temporary, final });
      }
      // A zombie (a partition that moved to another archiver) must not add a second copy: re-check the disk.
      const onDisk = partitionCoverage(listMasterFiles(this.config.dataDir, this.source.name).files, this.topic, buffer.partition).resumeOffset;
      if (onDisk !== null && onDisk > first) {
        removeFiles(written.map((file) => file.temporary));
        this.log.warn({ partition: buffer.partition, first, onDisk }, 'another archiver already wrote these offsets; re-reading from disk');
        this.buffers.delete(buffer.partition);
        timer();
        return;
      }
      let bytes = 0;
      for (const file of written) {
        bytes += statSync(file.temporary).size;
        renameSync(file.temporary, file.final);
      }
      this.metrics.files.inc({ source: this.source.name }, written.length);
      this.metrics.bytes.inc({ source: this.source.name }, bytes);
      this.metrics.events.inc({ source: this.source.name }, rows.length);
    }
    await this.consumer
      .commitOffsets([{ topic: this.topic, partition: buffer.partition, offset: String(last + 1) }])
      .catch((error: unknown) => this.log.debug({ err: error, partition: buffer.partition }, 'Kafka offset commit skipped (partition moved?)'));
    timer();
  }

  /** Stops fetching, writes what is buffered, commits, leaves the group. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.consumer.stop();
    try {
      await this.flush();
    } finally {
      await this.consumer.disconnect();
      this.writer.close();
      this.log.info('archiver stopped');
    }
  }
}
