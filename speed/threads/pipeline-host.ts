import { Worker } from 'node:worker_threads';
import type { KafkaMessage } from 'kafkajs';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import {
  batchBuffers,
  type BatchResult,
  type CheckpointResult,
  type PackedBatch,
  type PipelineEnvelope,
  type PipelineReply,
  type PipelineRequest,
  type PipelineThreadInit,
  type RestoreResult,
} from './pipeline-protocol.ts';

const ENTRY = new URL('./pipeline-thread-entry.js', import.meta.url);

/**
 * The consumer's side of a pipeline thread (pipeline-thread.ts): the thread
 * decodes messages and runs every view while this thread fetches from Kafka
 * and writes flushes to Redis, so the two overlap on two cores. Requests are
 * answered in the order sent.
 */
export class PipelineHost {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;
  private stopped = false;

  private constructor(
    private readonly worker: Worker,
    private readonly onFatal: (error: Error) => void,
    /** How long the thread's warm-up took before it was ready (ms). */
    readonly warmUpMs: number,
    /** Why the warm-up failed, if it did (the thread works without it). */
    readonly warmUpError: string | undefined,
  ) {
    worker.on('message', (reply: PipelineReply) => {
      if (reply.type === 'ready') return;
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (reply.type === 'result') waiter.resolve(reply.result);
      else {
        const error = new BraidError(ErrorCode.INTERNAL, `speed pipeline thread: ${reply.message}`);
        if (reply.stack) error.stack = reply.stack;
        waiter.reject(error);
      }
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => {
      if (!this.stopped) this.fail(new BraidError(ErrorCode.INTERNAL, `speed pipeline thread exited (code ${code})`));
    });
  }

  /** Starts the thread; resolves once it has rebuilt the views, warmed up and is taking requests. */
  static async start(init: PipelineThreadInit, onFatal: (error: Error) => void): Promise<PipelineHost> {
    const worker = new Worker(ENTRY, { workerData: init, name: `braid-speed-pipeline ${init.topic}` });
    const ready = await new Promise<PipelineReply & { type: 'ready' }>((resolve, reject) => {
      const onMessage = (reply: PipelineReply) => {
        if (reply.type !== 'ready') return;
        cleanup();
        resolve(reply);
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onExit = (code: number) => onError(new BraidError(ErrorCode.INTERNAL, `speed pipeline thread exited (code ${code}) while starting`));
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    return new PipelineHost(worker, onFatal, ready.warmUpMs, ready.warmUpError);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
    this.onFatal(error);
  }

  private request<T>(request: PipelineRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, request } satisfies PipelineEnvelope, transfer);
    });
  }

  /** Restores a partition's pipeline from Redis (creating it if new); its stored next offset and max event time. */
  restore(partition: number): Promise<RestoreResult> {
    return this.request({ type: 'restore', partition });
  }

  /** Hands a batch to the partition's pipeline (its buffers move to the thread). */
  process(batch: PackedBatch): Promise<BatchResult> {
    return this.request({ type: 'batch', batch }, batchBuffers(batch));
  }

  /** Takes the pending flush of each of `partitions` (none for a partition with nothing new). */
  checkpoint(nowMs: number, partitions: readonly number[]): Promise<CheckpointResult> {
    return this.request({ type: 'checkpoint', nowMs, partitions });
  }

  /** Forgets partitions (after a rebalance). */
  close(partitions: readonly number[]): Promise<void> {
    return this.request({ type: 'close', partitions });
  }

  /** Closes the thread's Redis connection and ends the thread. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.failure) await this.request({ type: 'shutdown' });
    } finally {
      this.stopped = true;
      await this.worker.terminate();
    }
  }
}

/**
 * Packs the messages of a batch at or after `fromOffset` for {@link PipelineHost.process}:
 * values and keys copied back to back into buffers of their own. Null when none is.
 */
export function packBatch(partition: number, messages: readonly KafkaMessage[], fromOffset: number | null): { batch: PackedBatch; lastOffset: number } | null {
  let first = 0;
  if (fromOffset !== null) {
    while (first < messages.length && Number(messages[first]!.offset) < fromOffset) first++;
  }
  const count = messages.length - first;
  if (count <= 0) return null;
  let valueBytes = 0;
  let keyBytes = 0;
  for (let index = first; index < messages.length; index++) {
    const message = messages[index]!;
    if (message.value !== null) valueBytes += message.value.length;
    if (message.key !== null && message.key !== undefined) keyBytes += message.key.length;
  }
  const offsets = new Float64Array(count);
  const valueLengths = new Int32Array(count);
  const keyLengths = new Int32Array(count);
  // allocUnsafeSlow: never a slice of Node's shared pool, so the buffer can move to the thread.
  const values = Buffer.allocUnsafeSlow(valueBytes);
  const keys = Buffer.allocUnsafeSlow(keyBytes);
  let valueAt = 0;
  let keyAt = 0;
  for (let index = first; index < messages.length; index++) {
    const message = messages[index]!;
    const slot = index - first;
    offsets[slot] = Number(message.offset);
    const { value, key } = message;
    if (value === null) valueLengths[slot] = -1;
    else {
      valueLengths[slot] = value.length;
      valueAt += value.copy(values, valueAt);
    }
    if (key === null || key === undefined) keyLengths[slot] = -1;
    else {
      keyLengths[slot] = key.length;
      keyAt += key.copy(keys, keyAt);
    }
  }
  return { batch: { partition, offsets, values, valueLengths, keys, keyLengths }, lastOffset: offsets[count - 1]! };
}
