import type { Source } from '../shared/sources/index.ts';
import { DAY_MS, OFFSET_COLUMN } from './master-dataset.ts';

/** `{"_kafka_offset":`: what every line starts with, the message's own bytes after `{` following the offset. */
const LINE_START = Buffer.from(`{"${OFFSET_COLUMN}":`, 'latin1');
const OPEN_BRACE = 0x7b;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
/** A day's lines grow in chunks from the first size, doubling up to the largest: never copied, never much more than used. */
const FIRST_CHUNK_BYTES = 64 << 10;
const LARGEST_CHUNK_BYTES = 4 << 20;

/**
 * Whether a message's parsed JSON already is the event its source validated from it, field by field (an absent
 * nullable field is null in both): then DuckDB reading the message's own bytes with the source's column types
 * gets the same values. It is not where the validator converted a value (an ISO or epoch-seconds event time),
 * and a message that names `_kafka_offset` itself would give its line that key twice.
 */
type SameAsEvent = (value: Record<string, unknown>, event: Record<string, unknown>) => boolean;

function compileSameAsEvent(source: Source): SameAsEvent {
  // Straight-line code over the declared fields, as the source's own fast path: monomorphic property reads.
  const checks = Object.keys(source.fields).map((name) => `(value.${name} === event.${name} || (value.${name} === undefined && event.${name} === null))`);
  // Field names were checked against [a-z][a-z0-9_]* by defineSource, so each is a safe identifier.
  return new Function('value', 'event', `"use strict";\nreturn value.${OFFSET_COLUMN} === undefined && ${checks.join(' &&\n  ')};`) as SameAsEvent;
}

/** The lines of the events of one UTC day, and their event-time range. */
export class DayLines {
  minTimeMs: number;
  maxTimeMs: number;
  rows = 0;
  /** Bytes of the longest line (DuckDB's `maximum_object_size` must hold it). */
  longestLine = 0;
  private readonly full: Buffer[] = [];
  private chunk: Buffer = Buffer.allocUnsafe(FIRST_CHUNK_BYTES);
  private used = 0;

  constructor(
    /** Start of the day, epoch ms. */
    readonly dayMs: number,
    timeMs: number,
  ) {
    this.minTimeMs = timeMs;
    this.maxTimeMs = timeMs;
  }

  /** A chunk with room for `bytes` more, to write at {@link used}. */
  room(bytes: number): Buffer {
    if (this.used + bytes > this.chunk.length) {
      if (this.used > 0) this.full.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(bytes, Math.min(LARGEST_CHUNK_BYTES, this.chunk.length * 2)));
      this.used = 0;
    }
    return this.chunk;
  }

  /** Where the next line starts in the current chunk. */
  get end(): number {
    return this.used;
  }

  /** Records a line written at the end of the current chunk, ending at `end`. */
  wrote(end: number): void {
    if (end - this.used > this.longestLine) this.longestLine = end - this.used;
    this.used = end;
    this.rows++;
  }

  /** The lines, in the order added, as consecutive buffers (each holding whole lines). */
  contents(): Buffer[] {
    return this.used > 0 ? [...this.full, this.chunk.subarray(0, this.used)] : [...this.full];
  }
}

/**
 * One partition's valid events awaiting a flush, as newline-delimited JSON that DuckDB's `read_json` turns into
 * Parquet, one set of lines per event-time day (each day is one file). Each line is the Kafka message's own bytes
 * with its offset put first, `{"_kafka_offset":1234,` + the message after its `{`: the consumer thread only copies
 * bytes per event (building a row value by value through DuckDB's appender costs more than fetching and decoding
 * the event), and DuckDB parses the lines on its own thread. A message whose bytes cannot stand for
 * its event as they are (the validator converted a value, it spans several lines, it names `_kafka_offset`) is
 * written as `JSON.stringify` of the event instead.
 *
 * @example
 * const lines = ArchiveLines.for(clickstream);
 * lines.add(message.value, value, event, message.offset);
 * lines.days.get(dayMs)?.contents(); // [<Buffer 7b 22 5f 6b 61 66 6b 61 5f 6f 66 66 73 65 74 22 3a 31 32 33 34 2c …>]
 */
export class ArchiveLines {
  /** Events held. */
  rows = 0;
  /** Bytes held. */
  bytes = 0;
  /** The days the events fall in, by start of day. */
  readonly days = new Map<number, DayLines>();
  private lastDay: DayLines | undefined;

  /** An empty buffer for a source's events. */
  static for(source: Source): ArchiveLines {
    return new ArchiveLines(source.timeField, compileSameAsEvent(source));
  }

  private constructor(
    private readonly timeField: string,
    private readonly sameAsEvent: SameAsEvent,
  ) {}

  /** An empty buffer for the same source. */
  next(): ArchiveLines {
    return new ArchiveLines(this.timeField, this.sameAsEvent);
  }

  /**
   * Adds one valid event: `raw` the message value, `value` its parsed JSON, `event` what the source validated
   * from it, `offset` its Kafka offset as kafkajs gives it (decimal text).
   */
  add(raw: Buffer, value: Record<string, unknown>, event: Record<string, unknown>, offset: string): void {
    const timeMs = event[this.timeField] as number;
    let day = this.lastDay;
    if (day === undefined || timeMs < day.dayMs || timeMs >= day.dayMs + DAY_MS) {
      const dayMs = Math.floor(timeMs / DAY_MS) * DAY_MS;
      day = this.days.get(dayMs);
      if (day === undefined) this.days.set(dayMs, (day = new DayLines(dayMs, timeMs)));
      this.lastDay = day;
    }
    if (timeMs < day.minTimeMs) day.minTimeMs = timeMs;
    else if (timeMs > day.maxTimeMs) day.maxTimeMs = timeMs;

    let end: number;
    if (raw[0] === OPEN_BRACE && this.sameAsEvent(value, event) && raw.indexOf(NEWLINE) === -1) {
      // The message goes in whole, then the line's start is written over its `{`: one plain copy of its bytes.
      const startLength = LINE_START.length + offset.length + 1;
      const chunk = day.room(startLength + raw.length);
      const start = day.end;
      const messageAt = start + startLength - 1;
      chunk.set(raw, messageAt);
      chunk.set(LINE_START, start);
      let at = start + LINE_START.length;
      for (let index = 0; index < offset.length; index++) chunk[at++] = offset.charCodeAt(index);
      chunk[at] = COMMA;
      end = messageAt + raw.length;
      chunk[end++] = NEWLINE;
    } else {
      const line = `{"${OFFSET_COLUMN}":${offset},${JSON.stringify(event).slice(1)}\n`;
      const chunk = day.room(Buffer.byteLength(line));
      end = day.end + chunk.write(line, day.end, 'utf8');
    }
    this.bytes += end - day.end;
    day.wrote(end);
    this.rows++;
  }
}
