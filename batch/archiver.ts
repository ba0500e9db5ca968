import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { createKafkaClient, ensureTopics } from '../shared/clients/index.ts';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics/index.ts';
import { parseMessage, type Source } from '../shared/sources/index.ts';
import type { View } from '../shared/views/index.ts';
import { ArchiveLines } from './archive-lines.ts';
import { completeFiles, dayFolder, dayOf, listDayFolders, listMasterFiles, masterFileName, partitionCoverage, removeFiles } from './master-dataset.ts';
import { checkMasterSchema } from './master-schema.ts';
import { createDuckDbParquetWriter, type ArchiveRow, type DayLinesFile, type ParquetWriter } from './parquet-writer.ts';

/** The Kafka consumer group archiving `source`. */
export function archiveGroup(config: Pick<Config, 'kafka'>, source: string): string {
  return `${config.kafka.clientId}-archive.${source}`;
}

/** kafkajs fetch size per partition: a replay's batches are large, so the consumer thread pays the fetch round trip seldom. */
export const ARCHIVE_MAX_BYTES_PER_PARTITION = 4_194_304;

/**
 * A consumer that outpaces the Parquet writer waits once the flushes waiting to be written hold this many bytes of
 * JSON lines (about 750 k clickstream events): memory stays bounded whatever the replay's speed.
 */
const MAX_QUEUED_BYTES = 128 << 20;

/** How often (in messages) a batch checks whether it should stop: the consumer stopped, or it was told to seek. */
const STALE_CHECK_EVERY = 1_024;

interface PartitionBuffer {
  partition: number;
  /** First offset not yet handed to a flush: where the next flush starts. */
  startOffset: number | null;
  /** Offset after the last message read into the buffer. */
  nextOffset: number | null;
  lines: ArchiveLines;
  soughtTo: number | null;
}

/** One Parquet file of a flush: an event-time day's lines, its temporary and final names. */
interface FlushFile extends DayLinesFile {
  readonly dayMs: number;
  /** Its name once renamed into place. */
  readonly final: string;
}

/** A partition's buffer handed over to be written: offsets [first, last], events as JSON lines. */
interface PendingFlush {
  /** The buffer it came from: once that is no longer the partition's buffer (revoked, or a flush failed), it is dropped. */
  readonly buffer: PartitionBuffer;
  readonly partition: number;
  readonly first: number;
  readonly last: number;
  readonly lines: ArchiveLines;
  readonly bytes: number;
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
      help: 'Duration of one partition flush, from its write starting to its files renamed into place (flushes queued together are written together).',
      labelNames: ['source'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    writerWaitSeconds: new Counter({
      name: 'braid_archive_writer_wait_seconds_total',
      help: 'Time the consumer waited for the Parquet writer to catch up (the flushes waiting to be written were full), per source.',
      labelNames: ['source'],
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
 * removed and rewritten. Before renaming, a flush re-reads the day folders it
 * writes to and stands down if another archiver (a zombie after a rebalance)
 * already wrote any of its offsets there.
 *
 * The consumer thread only decodes each event and copies its message bytes into
 * its partition's buffer ({@link ArchiveLines}); a full buffer (or every
 * `archive.flushIntervalMs`) is handed to a queue that DuckDB writes as Parquet
 * on its own thread while the consumer goes on fetching. What is queued is
 * written together; each flush is then renamed into place and committed, in
 * the order sealed.
 *
 * @example
 * const archiver = await Archiver.start({ config, source: clickstream, logger, registry });
 * await archiver.stop(); // writes what it holds, commits, leaves the group
 */
export class Archiver {
  private readonly buffers = new Map<number, PartitionBuffer>();
  private readonly queue: PendingFlush[] = [];
  private queuedBytes = 0;
  /** The queue's writer while it runs. */
  private writing: Promise<void> | null = null;
  /** Called after each flush written (or dropped): what a consumer waiting for room waits on. */
  private readonly written: Array<() => void> = [];
  /** The last offset commit: each waits for the one before, so Kafka sees them in order. */
  private committed: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly metrics: ReturnType<typeof archiveMetrics>;
  private readonly log: Logger;
  readonly group: string;

  private constructor(
    private readonly config: Config,
    private readonly source: Source,
    private readonly topic: string,
    /** Its kafkajs consumer, for instrumentation (the benchmark times from its first batch). */
    readonly consumer: Consumer,
    private readonly writer: ParquetWriter,
    logger: Logger,
    registry: Registry,
  ) {
    this.metrics = archiveMetrics(registry);
    this.group = archiveGroup(config, source.name);
    this.log = logger.child({ source: source.name, topic });
  }

  static async start(options: { config: Config; source: Source; logger: Logger; registry: Registry; /** Named in a refusal when the source changed in a way its files cannot be read with. */ views?: readonly View[] }): Promise<Archiver> {
    const { config, source, logger } = options;
    const settings = sourceSettings(config, source.name);
    const topic = settings.topic ?? source.topic;
    const kafka = createKafkaClient({ ...config.kafka, clientId: `${config.kafka.clientId}-archive`, logger });
    const group = archiveGroup(config, source.name);
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: config.speed.sessionTimeoutMs, maxBytesPerPartition: ARCHIVE_MAX_BYTES_PER_PARTITION });
    // New files must agree with what the dataset already holds: refuse to start on a change that cannot be read back.
    await checkMasterSchema({ source, files: completeFiles(listMasterFiles(config.dataDir, source.name).files), ...(options.views ? { views: options.views } : {}) });
    // The topic may not exist yet (an archiver started before anything produced, or a whole stack starting at once):
    // subscribing to a topic the broker does not host fails, so it is created, as the speed worker does, and its
    // leaders waited for.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [{ topic, partitions: settings.partitions }]);
    } finally {
      await admin.disconnect();
    }
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
      for (const buffer of archiver.buffers.values()) archiver.seal(buffer);
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
    const buffer: PartitionBuffer = {
      partition,
      startOffset: coverage.resumeOffset,
      nextOffset: coverage.resumeOffset,
      lines: ArchiveLines.for(this.source),
      soughtTo: null,
    };
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
    let skipped = 0;
    let resolved: string | undefined;
    for (let index = 0; index < batch.messages.length; index++) {
      // Every STALE_CHECK_EVERY messages: kafkajs's isStale() builds a JSON key per call, a tenth of the loop's time.
      if (index % STALE_CHECK_EVERY === 0 && (!isRunning() || isStale())) break;
      const message = batch.messages[index]!;
      const offset = Number(message.offset);
      if (buffer.nextOffset === null || offset >= buffer.nextOffset) {
        buffer.startOffset ??= offset;
        // Parsed here, not by source.decode, so the buffer can tell whether the message's own bytes stand for its event.
        const value = parseMessage(message.value);
        const decoded = typeof value === 'string' ? undefined : this.source.validate(value);
        if (decoded?.ok) buffer.lines.add(message.value!, value as Record<string, unknown>, decoded.event, message.offset);
        else skipped++;
        buffer.nextOffset = offset + 1;
      }
      resolved = message.offset;
    }
    // Once per batch, not per message: kafkajs turns each offset it is given into a Long, which costs more than copying the message.
    if (resolved !== undefined) resolveOffset(resolved);
    if (skipped > 0) this.metrics.skipped.inc({ source: this.source.name }, skipped);
    this.metrics.lag.set({ topic: this.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - (buffer.nextOffset ?? first)));
    if (buffer.lines.rows >= this.config.archive.maxRowsPerFile) this.seal(buffer);
    if (this.queuedBytes > MAX_QUEUED_BYTES) {
      const startedMs = performance.now();
      while (this.queuedBytes > MAX_QUEUED_BYTES) {
        await new Promise<void>((resolve) => this.written.push(resolve));
        await heartbeat();
      }
      this.metrics.writerWaitSeconds.inc({ source: this.source.name }, (performance.now() - startedMs) / 1000);
    }
    await heartbeat();
  }

  /** Hands a partition's buffer to the write queue (nothing when it holds no new offsets). */
  private seal(buffer: PartitionBuffer): void {
    if (buffer.nextOffset === null || buffer.startOffset === null || buffer.nextOffset === buffer.startOffset) return;
    const lines = buffer.lines;
    const flush: PendingFlush = { buffer, partition: buffer.partition, first: buffer.startOffset, last: buffer.nextOffset - 1, lines, bytes: lines.bytes };
    buffer.lines = lines.next();
    buffer.startOffset = buffer.nextOffset;
    this.queue.push(flush);
    this.queuedBytes += flush.bytes;
    this.writeQueue();
  }

  /**
   * Writes what is queued, unless already doing so: every flush queued by then in one DuckDB call, then each
   * one's files renamed into place and its offsets committed, in order; again while more was queued meanwhile.
   */
  private writeQueue(): void {
    if (this.writing) return;
    this.writing = (async () => {
      for (let flushes = this.queue.splice(0); flushes.length > 0; flushes = this.queue.splice(0)) {
        try {
          await this.writeFlushes(flushes.filter((flush) => !this.dropped(flush)));
        } finally {
          for (const flush of flushes) this.queuedBytes -= flush.bytes;
          for (const resolve of this.written.splice(0)) resolve();
        }
      }
    })().finally(() => {
      this.writing = null;
      if (this.queue.length > 0) this.writeQueue();
    });
  }

  /** Writes what every partition holds, and waits until all of it is written and committed. */
  async flush(): Promise<void> {
    for (const buffer of this.buffers.values()) this.seal(buffer);
    while (this.writing) await this.writing;
    await this.committed;
  }

  /** Whether a flush's partition has moved on since it was sealed (revoked, or an earlier flush failed): then it is not written. */
  private dropped(flush: PendingFlush): boolean {
    return this.buffers.get(flush.partition) !== flush.buffer;
  }

  /**
   * A flush that could not be written: the partition starts over from what is on disk (its next batch restores
   * it and seeks back), and its later flushes, which would leave a gap, are dropped.
   */
  private failed(flush: PendingFlush, error: unknown): void {
    if (this.dropped(flush)) {
      this.log.debug({ err: error, partition: flush.partition }, 'a dropped flush failed');
      return;
    }
    this.log.error({ err: error, partition: flush.partition, first: flush.first, last: flush.last }, 'archive flush failed; the partition resumes from the master dataset on disk');
    this.buffers.delete(flush.partition);
  }

  /** The files of a flush: one per event-time day, each with its temporary name and its lines. */
  private flushFiles(flush: PendingFlush): FlushFile[] {
    const { partition, first, last } = flush;
    const days = [...flush.lines.days.values()].sort((a, b) => a.dayMs - b.dayMs);
    return days.map((day, index) => {
      const folder = dayFolder(this.config.dataDir, this.source.name, day.dayMs);
      mkdirSync(folder, { recursive: true });
      const final = path.join(
        folder,
        masterFileName({ topic: this.topic, partition, firstOffset: first, lastOffset: last, minTimeMs: day.minTimeMs, maxTimeMs: day.maxTimeMs, index: index + 1, count: days.length }),
      );
      const temporary = `${final}.${randomBytes(4).toString('hex')}`;
      // Named as the partition's temporary files, so a crash leaves them where restore() removes them.
      return { dayMs: day.dayMs, partition, final, file: `${temporary}.tmp`, scratchFile: `${temporary}.json.tmp`, lines: day.contents(), longestLine: day.longestLine };
    });
  }

  /**
   * Writes flushes of any partitions: all their files in one DuckDB call (each call's completion waits for the
   * consumer's current batch, so one call per flush would hold the queue back as often); should that fail, each
   * flush on its own, then row by row. Then each flush is finished in order.
   */
  private async writeFlushes(flushes: readonly PendingFlush[]): Promise<void> {
    const files = new Map<PendingFlush, FlushFile[]>();
    for (const flush of flushes) {
      try {
        files.set(flush, this.flushFiles(flush));
      } catch (error) {
        this.failed(flush, error);
      }
    }
    const written = [...files.keys()];
    const timers = written.map(() => this.metrics.flushSeconds.startTimer({ source: this.source.name }));
    try {
      await this.writer.writeLines([...files.values()].flat());
    } catch {
      for (const flush of written) {
        try {
          await this.writeOne(flush, files.get(flush)!);
        } catch (error) {
          this.failed(flush, error);
          files.delete(flush);
        }
      }
    }
    for (const [index, flush] of written.entries()) {
      if (!files.has(flush)) continue;
      try {
        this.finish(flush, files.get(flush)!);
      } catch (error) {
        this.failed(flush, error);
      }
      timers[index]!();
    }
  }

  /** One flush's files, through DuckDB's JSON reader or, where it refuses the lines, the appender. */
  private async writeOne(flush: PendingFlush, files: readonly FlushFile[]): Promise<void> {
    try {
      await this.writer.writeLines(files);
    } catch (error) {
      if (this.dropped(flush)) throw error;
      // DuckDB refuses some JSON that JSON.parse takes (a key given twice, a lone surrogate, bytes that are not UTF-8): these rows go through the appender.
      this.log.warn({ err: error, partition: flush.partition, first: flush.first, last: flush.last }, 'DuckDB could not read the flush as JSON lines; writing it row by row');
      removeFiles(files.map((file) => file.file));
      for (const file of files) await this.writer.write(file.file, this.decodeLines(file.lines, flush.partition));
    }
  }

  /** Renames a written flush's files into place, unless it was dropped or another archiver wrote its offsets; commits them. */
  private finish(flush: PendingFlush, files: readonly FlushFile[]): void {
    const { partition, first, last } = flush;
    if (this.dropped(flush)) {
      removeFiles(files.map((file) => file.file));
      return;
    }
    // A zombie (a partition that moved to another archiver) must not add a second copy: look in the folders these events belong in.
    const elsewhere = listDayFolders(this.config.dataDir, this.source.name, files.map((file) => file.dayMs)).find(
      (file) => file.topic === this.topic && file.partition === partition && file.firstOffset <= last && file.lastOffset >= first,
    );
    if (elsewhere) {
      removeFiles(files.map((file) => file.file));
      this.log.warn({ partition, first, last, file: elsewhere.path }, 'another archiver already wrote these offsets; re-reading from disk');
      this.buffers.delete(partition);
      return;
    }
    let bytes = 0;
    for (const file of files) {
      bytes += statSync(file.file).size;
      renameSync(file.file, file.final);
    }
    this.metrics.files.inc({ source: this.source.name }, files.length);
    this.metrics.bytes.inc({ source: this.source.name }, bytes);
    this.metrics.events.inc({ source: this.source.name }, flush.lines.rows);
    // Not awaited: the next flush need not wait for Kafka. A partition resumes from disk, so a commit lost or late only delays what Kafka reports.
    this.committed = this.committed.then(() =>
      this.consumer
        .commitOffsets([{ topic: this.topic, partition, offset: String(last + 1) }])
        .catch((error: unknown) => this.log.debug({ err: error, partition }, 'Kafka offset commit skipped (partition moved?)')),
    );
  }

  /** A day's buffered lines as rows, each decoded again as the consumer decoded its message. */
  private decodeLines(lines: readonly Buffer[], partition: number): ArchiveRow[] {
    const rows: ArchiveRow[] = [];
    for (const chunk of lines) {
      for (let start = 0; start < chunk.length; ) {
        const end = chunk.indexOf(0x0a, start);
        const value = parseMessage(chunk.subarray(start, end));
        start = end + 1;
        const decoded = typeof value === 'string' ? undefined : this.source.validate(value);
        if (!decoded?.ok) throw new Error(`a buffered line of partition ${partition} no longer decodes: ${typeof value === 'string' ? value : decoded?.reason}`);
        rows.push({ ...(decoded.event as Record<string, unknown>), _kafka_partition: partition, _kafka_offset: Number((value as Record<string, unknown>)._kafka_offset) });
      }
    }
    return rows;
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
