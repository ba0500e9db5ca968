import type { RedisConnection } from '../../shared/clients/index.ts';
import type { ViewData } from '../../shared/views/index.ts';
import type { FlushHeader } from '../scripts.ts';

/**
 * The messages between a source consumer (main thread: Kafka, Redis flushes,
 * offsets) and its pipeline thread (decode, every view, checkpoints). The
 * thread handles requests one at a time in the order sent, so a checkpoint
 * holds exactly the batches sent before it.
 */

/** `workerData` of a pipeline thread. */
export interface PipelineThreadInit {
  readonly views: readonly ViewData[];
  readonly redisConnection: RedisConnection;
  readonly keyPrefix: string;
  readonly group: string;
  readonly topic: string;
  readonly maxOutOfOrdernessMs: number;
  /** Synthetic events the thread runs through its views before it says it is ready (0: none). */
  readonly warmUpEvents: number;
}

/**
 * One Kafka batch of one partition, packed for transfer: the message values
 * back to back in one buffer, likewise the keys; a length of -1 marks a null.
 */
export interface PackedBatch {
  readonly partition: number;
  readonly offsets: Float64Array;
  readonly values: Uint8Array;
  readonly valueLengths: Int32Array;
  readonly keys: Uint8Array;
  readonly keyLengths: Int32Array;
}

/** The buffers a batch moves (not copies) to its pipeline thread with. */
export function batchBuffers(batch: PackedBatch): ArrayBuffer[] {
  return [batch.offsets.buffer, batch.values.buffer, batch.valueLengths.buffer, batch.keys.buffer, batch.keyLengths.buffer] as ArrayBuffer[];
}

export type PipelineRequest =
  | { readonly type: 'restore'; readonly partition: number }
  | { readonly type: 'batch'; readonly batch: PackedBatch }
  | { readonly type: 'checkpoint'; readonly nowMs: number; readonly partitions: readonly number[] }
  | { readonly type: 'close'; readonly partitions: readonly number[] }
  | { readonly type: 'shutdown' };

/** Counts since the previous reply, per view by the view's position. */
export interface ThreadCounts {
  readonly eventsIn: number;
  readonly deadLettered: number;
  readonly eventsPerView: readonly number[];
  readonly latePerView: readonly number[];
}

export interface RestoreResult {
  readonly nextOffset: number | null;
  readonly maxEventTimeMs: number | null;
}

export interface BatchResult {
  readonly maxEventTimeMs: number | null;
  /** Whether the batch held a valid event (idleness). */
  readonly sawEvent: boolean;
  /** Pending cells over every partition of the thread. */
  readonly pendingCells: number;
  readonly counts: ThreadCounts;
}

/** A Kafka message bound for the dead-letter or late topic (bytes copied out of the batch). */
export interface OutgoingMessage {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Record<string, string>;
}

/** One partition's part of a flush round: its header, and what goes to `.dlq` and `.late`. */
export interface PartitionFlush {
  readonly partition: number;
  readonly header: FlushHeader;
  readonly deadLetters: readonly OutgoingMessage[];
  readonly late: readonly OutgoingMessage[];
}

/** A pipeline thread's flush round: its partitions with something new, and their ops in one program for one script call. */
export interface PackedRound {
  readonly partitions: readonly PartitionFlush[];
  readonly keys: readonly string[];
  readonly ops: Uint8Array;
  readonly touchedViews: readonly string[];
}

export interface CheckpointResult {
  /** Null when none of the partitions has anything new. */
  readonly round: PackedRound | null;
  readonly pendingCells: number;
  /** approxDistinct sketches the thread holds for open windows, after the checkpoint. */
  readonly heldSketches: number;
}

export type PipelineReply =
  | { readonly type: 'ready'; readonly warmUpMs: number; readonly warmUpError?: string }
  | { readonly type: 'result'; readonly id: number; readonly result: unknown }
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly stack: string | undefined };

export interface PipelineEnvelope {
  readonly id: number;
  readonly request: PipelineRequest;
}
