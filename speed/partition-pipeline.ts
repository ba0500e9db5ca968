import type { Redis } from 'ioredis';
import type { Message } from 'kafkajs';
import type { Source } from '../shared/sources/index.ts';
import type { View } from '../shared/views/index.ts';
import { FlushProgram } from './flush-program.ts';
import type { SketchTtls } from './operators/index.ts';
import { SpeedKeys } from '../shared/speed-contract/index.ts';
import type { FlushHeader } from './scripts.ts';
import { createViewPipeline, type ViewPipeline } from './view-pipeline.ts';

export interface IncomingMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /**
   * The value as UTF-8 text, when the caller has it: decoded from the text,
   * the value's bytes are only read for dead letters and late events.
   */
  readonly text?: string | null;
}

/** Counts for metrics since they were last reported; per view by the view's position in the pipeline's view list. */
export interface PipelineCounts {
  eventsIn: number;
  deadLettered: number;
  eventsPerView: number[];
  latePerView: number[];
}

/** Zeroed counts for `views` views. */
export function pipelineCounts(views: number): PipelineCounts {
  return { eventsIn: 0, deadLettered: 0, eventsPerView: new Array<number>(views).fill(0), latePerView: new Array<number>(views).fill(0) };
}

/** Everything one partition flush carries. */
export interface PartitionCheckpoint {
  readonly header: FlushHeader;
  readonly program: FlushProgram;
  readonly deadLetters: Message[];
  readonly late: Message[];
}

/**
 * The state of one assigned Kafka partition: the offset range processed since
 * the last flush, the partition's max event time (its watermark basis, stored
 * with its offset so a replay makes the same late decisions), one view
 * pipeline per view, and the dead-letter and late messages not yet sent.
 */
export class PartitionPipeline {
  /** Offset stored in Redis at the last flush or restore: the flush script's expected offset. */
  expectedOffset: string | null = null;
  /** Offset after the last message processed (null before the first one), as a number: set per message, so no string per message. */
  private next: number | null = null;
  maxEventTimeMs: number | null = null;
  private sawEvents = false;
  private deadLetters: Message[] = [];
  private late: Message[] = [];
  private readonly views: ViewPipeline[];

  constructor(
    readonly source: Source,
    views: readonly View[],
    private readonly options: {
      keys: SpeedKeys;
      group: string;
      topic: string;
      partition: number;
      maxOutOfOrdernessMs: number;
      counts: PipelineCounts;
      /** Per view, the sketch-TTL registry its operators share across partitions (default: one per operator). */
      sketchTtls?: (view: View) => SketchTtls;
    },
  ) {
    this.views = views.map((view) => createViewPipeline(view, { ...options, sketchTtls: options.sketchTtls?.(view) }));
  }

  /** Offset after the last message processed (null before the first one). */
  get nextOffset(): string | null {
    return this.next === null ? null : String(this.next);
  }

  /** {@link nextOffset} as a number (offsets stay far below 2^53). */
  get nextOffsetNumber(): number | null {
    return this.next;
  }

  get topic(): string {
    return this.options.topic;
  }
  get partition(): number {
    return this.options.partition;
  }

  /** Watermark of this partition: max event time − bounded out-of-orderness. */
  watermarkMs(): number {
    return this.maxEventTimeMs === null ? -Infinity : this.maxEventTimeMs - this.options.maxOutOfOrdernessMs;
  }

  /** approxDistinct sketches the operators hold for open windows. */
  get heldSketches(): number {
    let sketches = 0;
    for (const pipeline of this.views) sketches += pipeline.operator.heldSketches;
    return sketches;
  }

  get pendingCells(): number {
    let cells = this.deadLetters.length + this.late.length;
    for (const pipeline of this.views) cells += pipeline.operator.pendingCells;
    return cells;
  }

  /** Loads the partition's stored offset, max event time and operator state (e.g. open sessions) from Redis. */
  async restore(redis: Redis): Promise<void> {
    const { keys, group, topic, partition } = this.options;
    const [offset, maxEventTime] = await redis.hmget(
      keys.partitions(group),
      SpeedKeys.offsetField(topic, partition),
      SpeedKeys.maxEventTimeField(topic, partition),
    );
    this.expectedOffset = offset ?? null;
    this.next = offset === null || offset === undefined ? null : Number(offset);
    this.maxEventTimeMs = maxEventTime === null || maxEventTime === undefined ? null : Number(maxEventTime);
    this.sawEvents = false;
    this.deadLetters = [];
    this.late = [];
    for (const pipeline of this.views) {
      pipeline.operator.onClose();
      await pipeline.operator.onStart(redis, this.watermarkMs());
    }
  }

  /** Processes one message, the one at `offset`. */
  process(message: IncomingMessage, offset: number): void {
    const { counts, topic, partition } = this.options;
    this.next = offset + 1;
    const decoded = this.source.decode(message.text !== undefined ? message.text : message.value);
    if (!decoded.ok) {
      counts.deadLettered++;
      this.deadLetters.push({
        key: message.key,
        value: message.value,
        headers: {
          'braid-error': decoded.reason,
          'braid-source-topic': topic,
          'braid-source-partition': String(partition),
          'braid-source-offset': String(offset),
        },
      });
      return;
    }
    const event = decoded.event as Record<string, unknown>;
    const eventTimeMs = this.source.eventTimeMs(decoded.event);
    const watermarkMs = this.watermarkMs();
    counts.eventsIn++;
    let lateFor: string[] | undefined;
    const views = this.views;
    for (let index = 0; index < views.length; index++) {
      const pipeline = views[index]!;
      if (pipeline.filter !== undefined && !pipeline.filter(event)) continue;
      if (pipeline.operator.process(event, pipeline.groupKey(event), eventTimeMs, watermarkMs)) {
        counts.eventsPerView[index]!++;
      } else {
        (lateFor ??= []).push(pipeline.view.name);
        counts.latePerView[index]!++;
      }
    }
    if (lateFor) {
      this.late.push({
        key: message.key,
        value: message.value,
        headers: {
          'braid-late-views': lateFor.join(','),
          'braid-watermark': String(watermarkMs),
          'braid-source-topic': topic,
          'braid-source-partition': String(partition),
          'braid-source-offset': String(offset),
        },
      });
    }
    if (this.maxEventTimeMs === null || eventTimeMs > this.maxEventTimeMs) this.maxEventTimeMs = eventTimeMs;
    this.sawEvents = true;
  }

  /**
   * Moves everything pending into one flush (synchronously, so events that
   * arrive while it is written go to the next one): into `program` when given
   * (a round of several partitions), else into a program of its own. Null,
   * and nothing written, when there is nothing new since the last flush.
   */
  checkpoint(nowMs: number, program?: FlushProgram): PartitionCheckpoint | null {
    const nextOffset = this.nextOffset;
    if (nextOffset === null || nextOffset === this.expectedOffset) return null;
    const { keys, group, topic, partition } = this.options;
    program ??= new FlushProgram(keys.partitions(group));
    const watermarkMs = this.watermarkMs();
    for (const pipeline of this.views) {
      pipeline.operator.onWatermark(watermarkMs);
      pipeline.operator.onCheckpoint(program, watermarkMs);
    }
    const checkpoint: PartitionCheckpoint = {
      header: {
        offsetField: SpeedKeys.offsetField(topic, partition),
        expectedOffset: this.expectedOffset,
        nextOffset,
        maxEventTimeField: SpeedKeys.maxEventTimeField(topic, partition),
        maxEventTimeMs: this.maxEventTimeMs,
        seenField: SpeedKeys.seenField(topic, partition),
        seenAtMs: this.sawEvents ? nowMs : null,
      },
      program,
      deadLetters: this.deadLetters,
      late: this.late,
    };
    // The next flush expects what this one writes; if this one fails, the partition is restored from Redis.
    this.expectedOffset = nextOffset;
    this.sawEvents = false;
    this.deadLetters = [];
    this.late = [];
    return checkpoint;
  }

  close(): void {
    for (const pipeline of this.views) pipeline.operator.onClose();
  }
}
