import { parentPort, workerData } from 'node:worker_threads';
import type { Message } from 'kafkajs';
import { createRedisClient } from '../../shared/clients/index.ts';
import { viewsFromData } from '../../shared/views/index.ts';
import { FlushProgram } from '../flush-program.ts';
import { SketchTtls } from '../operators/index.ts';
import { PartitionPipeline, pipelineCounts, type IncomingMessage, type PipelineCounts } from '../partition-pipeline.ts';
import {
  batchBuffers,
  type BatchResult,
  type CheckpointResult,
  type OutgoingMessage,
  type PackedBatch,
  type PartitionFlush,
  type PipelineEnvelope,
  type PipelineReply,
  type PipelineRequest,
  type PipelineThreadInit,
  type RestoreResult,
  type ThreadCounts,
} from './pipeline-protocol.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { WARM_UP_PARTITIONS, warmUpSchedule } from './warm-up.ts';

/**
 * A source consumer's pipeline thread (started by pipeline-host.ts): owns the
 * PartitionPipelines of the consumer's partitions, and runs requests strictly
 * one after another, in the order the consumer sent them.
 */
const init = workerData as PipelineThreadInit;
const port = parentPort!;
const views = viewsFromData(init.views);
const source = views[0]!.source;
const keys = new SpeedKeys(init.keyPrefix);
const redis = createRedisClient(init.redisConnection, { name: 'braid-speed-pipeline' });
const counts = pipelineCounts(views.length);
const pipelines = new Map<number, PartitionPipeline>();
/** Per view: one sketch-TTL registry for its operators on all of this thread's partitions. */
function newSketchTtls(): Map<string, SketchTtls> {
  return new Map(views.map((view) => [view.name, new SketchTtls()]));
}
/** This thread's registries. */
const sketchTtls = newSketchTtls();

/** A pipeline of this thread's views (the warm-up's too, built the same way, so its objects have the same shapes). */
function newPipeline(partition: number, eventCounts: PipelineCounts, ttls: ReadonlyMap<string, SketchTtls>): PartitionPipeline {
  return new PartitionPipeline(source, views, {
    keys,
    group: init.group,
    topic: init.topic,
    partition,
    maxOutOfOrdernessMs: init.maxOutOfOrdernessMs,
    counts: eventCounts,
    sketchTtls: (view) => ttls.get(view.name)!,
  });
}

function pipelineOf(partition: number): PartitionPipeline {
  let pipeline = pipelines.get(partition);
  if (pipeline === undefined) {
    pipeline = newPipeline(partition, counts, sketchTtls);
    pipelines.set(partition, pipeline);
  }
  return pipeline;
}

function pendingCells(): number {
  let cells = 0;
  for (const pipeline of pipelines.values()) cells += pipeline.pendingCells;
  return cells;
}

function takeCounts(): ThreadCounts {
  const taken: ThreadCounts = {
    eventsIn: counts.eventsIn,
    deadLettered: counts.deadLettered,
    eventsPerView: [...counts.eventsPerView],
    latePerView: [...counts.latePerView],
  };
  counts.eventsIn = 0;
  counts.deadLettered = 0;
  counts.eventsPerView.fill(0);
  counts.latePerView.fill(0);
  return taken;
}

/**
 * The message at the cursor of a packed batch: its value's text for decoding,
 * and its key and value bytes only when asked (dead letters, late events), so
 * the hot path makes no Buffer per message.
 */
class BatchCursor implements IncomingMessage {
  text: string | null = null;
  valueStart = 0;
  valueEnd = -1;
  keyStart = 0;
  keyEnd = -1;

  constructor(
    private readonly values: Buffer,
    private readonly keyBytes: Buffer,
  ) {}

  get value(): Buffer | null {
    return this.valueEnd < 0 ? null : this.values.subarray(this.valueStart, this.valueEnd);
  }

  get key(): Buffer | null {
    return this.keyEnd < 0 ? null : this.keyBytes.subarray(this.keyStart, this.keyEnd);
  }
}

function processBatch(batch: PackedBatch): BatchResult {
  const pipeline = pipelineOf(batch.partition);
  const eventsBefore = counts.eventsIn;
  // The loop is a function of its own: compiled by the JIT while in it, this function would leave that code
  // (a deoptimization) at its return, which had not run yet, at the end of every batch.
  feed(pipeline, batch);
  return { maxEventTimeMs: pipeline.maxEventTimeMs, sawEvent: counts.eventsIn > eventsBefore, pendingCells: pendingCells(), counts: takeCounts() };
}

/** Runs each message of `batch` through its partition's pipeline. */
function feed(pipeline: PartitionPipeline, batch: PackedBatch): void {
  const values = Buffer.from(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
  const keyBytes = Buffer.from(batch.keys.buffer, batch.keys.byteOffset, batch.keys.byteLength);
  const { offsets, valueLengths, keyLengths } = batch;
  const message = new BatchCursor(values, keyBytes);
  let valueAt = 0;
  let keyAt = 0;
  for (let index = 0; index < offsets.length; index++) {
    const valueLength = valueLengths[index]!;
    const keyLength = keyLengths[index]!;
    message.valueStart = valueAt;
    if (valueLength < 0) {
      message.valueEnd = -1;
      message.text = null;
    } else {
      message.valueEnd = valueAt += valueLength;
      message.text = values.toString('utf8', message.valueStart, valueAt);
    }
    message.keyStart = keyAt;
    message.keyEnd = keyLength < 0 ? -1 : (keyAt += keyLength);
    pipeline.process(message, offsets[index]!);
  }
}

/** Copies out of the batch buffer, so only these bytes cross back to the consumer. */
function outgoing(message: Message): OutgoingMessage {
  const bytes = (value: Message['value']) => (value === null || value === undefined ? null : new Uint8Array(typeof value === 'string' ? Buffer.from(value) : value));
  return { key: bytes(message.key ?? null), value: bytes(message.value), headers: message.headers as Record<string, string> };
}

/** A packed program's ops in their own exactly sized buffer, to be moved (not copied) to the consumer. */
function movableOps(packed: Uint8Array): Uint8Array<ArrayBuffer> {
  const ops = new Uint8Array(packed.length);
  ops.set(packed);
  return ops;
}

/** One program for all of `partitions`: one script call, and one PEXPIRE per key however many partitions write to it. */
function checkpoint(nowMs: number, partitions: readonly number[], transfer: ArrayBuffer[]): CheckpointResult {
  const program = new FlushProgram(keys.partitions(init.group));
  const flushes: PartitionFlush[] = [];
  for (const partition of partitions) {
    const taken = pipelines.get(partition)?.checkpoint(nowMs, program);
    if (!taken) continue;
    flushes.push({ partition, header: taken.header, deadLetters: taken.deadLetters.map(outgoing), late: taken.late.map(outgoing) });
  }
  let heldSketches = 0;
  for (const pipeline of pipelines.values()) heldSketches += pipeline.heldSketches;
  if (flushes.length === 0) return { round: null, pendingCells: pendingCells(), heldSketches };
  const packed = program.pack();
  const ops = movableOps(packed.ops);
  transfer.push(ops.buffer);
  return { round: { partitions: flushes, keys: packed.keys, ops, touchedViews: [...program.touchedViews] }, pendingCells: pendingCells(), heldSketches };
}

async function handle(request: PipelineRequest, transfer: ArrayBuffer[]): Promise<unknown> {
  switch (request.type) {
    case 'batch':
      return processBatch(request.batch);
    case 'restore': {
      // The partition's last flush may have been refused, TTLs it was to set with it: let them be set again.
      for (const registry of sketchTtls.values()) registry.clear();
      const pipeline = pipelineOf(request.partition);
      await pipeline.restore(redis);
      return { nextOffset: pipeline.nextOffsetNumber, maxEventTimeMs: pipeline.maxEventTimeMs } satisfies RestoreResult;
    }
    case 'checkpoint':
      return checkpoint(request.nowMs, request.partitions, transfer);
    case 'close':
      for (const partition of request.partitions) {
        pipelines.get(partition)?.close();
        pipelines.delete(partition);
      }
      return null;
    case 'shutdown':
      for (const pipeline of pipelines.values()) pipeline.close();
      pipelines.clear();
      await redis.quit().catch(() => redis.disconnect());
      return null;
  }
}

let queue: Promise<void> = Promise.resolve();
port.on('message', ({ id, request }: PipelineEnvelope) => {
  queue = queue.then(async () => {
    const transfer: ArrayBuffer[] = [];
    let reply: PipelineReply;
    try {
      reply = { type: 'result', id, result: await handle(request, transfer) };
    } catch (error) {
      reply = { type: 'failed', id, message: (error as Error).message ?? String(error), stack: (error as Error).stack };
    }
    port.postMessage(reply, transfer);
  });
});
/**
 * Warm-up batches between two checkpoints (4,000 events): a warm-up holds many, so the JIT finds flush building
 * hot too (with one every 20,000 events, `onCheckpoint` and its helpers would first be optimised on real events).
 */
const WARM_UP_CHECKPOINT_EVERY = 2;

/**
 * Runs `events` synthetic events (warm-up.ts) through throwaway pipelines of this thread's views, with
 * checkpoints built and packed but never sent, so the JIT has compiled the hot code before the first real batch.
 * A fresh thread otherwise compiles it while processing, which costs a freshly started worker 3–24 % more CPU per
 * event over its first million events (alternating runs on the 2-core benchmark box). The warm-up must look like
 * the real work: where it differs (other value distributions, batches that are not moved, pipelines never
 * restored), V8 drops the compiled code on the first real events and compiles it again, 203 compilations instead
 * of 64 after the first real batch (docs/benchmarks.md, "Where the time goes"). Touches nothing outside the
 * throwaway pipelines (their own counts and sketch-TTL registries,
 * partitions -1 and -2; they read those partitions' offsets and open sessions from Redis, where there are none,
 * and write nothing).
 */
async function warmUp(events: number): Promise<void> {
  if (events <= 0) return;
  let throwaway: PartitionPipeline[] = [];
  let round = -1;
  let sinceCheckpoint = 0;
  const endRound = () => {
    warmCheckpoint(throwaway);
    for (const pipeline of throwaway) pipeline.close();
  };
  for (const { round: next, slot, batch } of warmUpSchedule(source, events, Date.now() - 3_600_000, init.maxOutOfOrdernessMs)) {
    if (next !== round) {
      endRound();
      throwaway = await warmUpPipelines();
      round = next;
      sinceCheckpoint = 0;
    }
    // Batches cross as real ones do (structured clone, buffers moved), so the code is compiled for what
    // arrives: plain Uint8Arrays rather than Buffers, and ArrayBuffers that may be detached (V8 drops code
    // that assumed none ever was, the first time one is).
    feed(throwaway[slot]!, structuredClone(batch, { transfer: batchBuffers(batch) }));
    if (++sinceCheckpoint % WARM_UP_CHECKPOINT_EVERY === 0) warmCheckpoint(throwaway);
  }
  endRound();
}

/** False once a warm-up restore has failed (Redis not there yet): the rest of the warm-up does without. */
let warmUpRestores = true;

/**
 * One round's throwaway pipelines (partitions -1, -2, …), restored as a real partition's pipeline is before its
 * first batch: restoring sets its fields anew, and V8 drops code compiled while they had only ever been set once.
 */
async function warmUpPipelines(): Promise<PartitionPipeline[]> {
  const ttls = newSketchTtls();
  const warmCounts = pipelineCounts(views.length);
  const throwaway = Array.from({ length: WARM_UP_PARTITIONS }, (_, slot) => newPipeline(-1 - slot, warmCounts, ttls));
  for (const pipeline of throwaway) {
    if (!warmUpRestores) break;
    try {
      await pipeline.restore(redis);
    } catch {
      // The pipeline is as new (a restore sets nothing before its read answers); the worker's own restores report Redis.
      warmUpRestores = false;
    }
  }
  return throwaway;
}

/** A checkpoint of the throwaway pipelines, built, packed and moved (as a real one is to the consumer), never sent. */
function warmCheckpoint(throwaway: readonly PartitionPipeline[]): void {
  const program = new FlushProgram(keys.partitions(init.group));
  let taken = false;
  for (const pipeline of throwaway) if (pipeline.checkpoint(Date.now(), program)) taken = true;
  if (!taken) return;
  const ops = movableOps(program.pack().ops);
  structuredClone(ops, { transfer: [ops.buffer] });
}

/** The warm-up is only an optimisation: if it fails, the thread says why and works as it would have without it. */
async function tryWarmUp(): Promise<PipelineReply & { type: 'ready' }> {
  const started = performance.now();
  try {
    await warmUp(init.warmUpEvents);
    return { type: 'ready', warmUpMs: performance.now() - started };
  } catch (error) {
    return { type: 'ready', warmUpMs: performance.now() - started, warmUpError: (error as Error).message ?? String(error) };
  }
}

port.postMessage(await tryWarmUp());
