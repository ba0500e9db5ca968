import type { KafkaMessage } from 'kafkajs';
import type { FieldSpec, Source } from '../../shared/sources/index.ts';
import { packBatch } from './pipeline-host.ts';
import type { PackedBatch } from './pipeline-protocol.ts';

/**
 * Synthetic events for a pipeline thread's warm-up (pipeline-thread.ts): the
 * thread runs them through throwaway partition pipelines of its views before
 * it takes its first request, so V8 has compiled the hot code (decode, group
 * keys, operators, checkpoints) before the first real batch arrives, rather
 * than while it is being processed. They are built from the source's field
 * specs alone and never leave the thread: nothing reaches Redis or Kafka.
 */

/** Distinct values of each synthetic string and int field: keys repeat, so sessions are both opened and extended, and windows hold many cells of several elements each. */
const DISTINCT_VALUES = 2_000;
/** One event in this many takes a field's hot value (see {@link spread}). */
const HOT_EVERY = 3;
/** Event-time step between synthetic events (an ordinary key repeats every 12 s on average, about 24 s within one throwaway partition: well inside any session gap of a minute or more). */
const SPACING_MS = 4;
/** A nullable field is null in all but one event of this many (as optional fields mostly are). */
const NULL_EXCEPT_EVERY = 7;
/** Messages per synthetic batch (a real one holds up to a fetch's worth of a partition, about 7,000 of the demo's). */
export const WARM_UP_BATCH_SIZE = 2_000;

/**
 * Which of the DISTINCT_VALUES values field `salt` takes in event `index`: murmur3's 32-bit finaliser over
 * both, so each field varies on its own. (A multiplicative hash of `index + salt × c` would give every field
 * the same sequence shifted, so each URL would meet one or two users, and the sketch code for cells of many
 * users would first be compiled, and compiled again, on real events.) Value 0 is hot, as a home page or a busy user is:
 * one event in HOT_EVERY takes it, so some cells of each throwaway pipeline meet over a thousand others (a
 * dense sketch).
 */
function spread(index: number, salt: number): number {
  let hash = Math.imul(index + 1, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  hash >>>= 0;
  return hash % HOT_EVERY === 0 ? 0 : (hash >>> 2) % DISTINCT_VALUES;
}

function syntheticValue(spec: FieldSpec, name: string, field: number, index: number, baseMs: number, jitterMs: number): unknown {
  if (spec.nullable === true && index % NULL_EXCEPT_EVERY !== 0) return null;
  switch (spec.type) {
    case 'timestampMs': {
      // A little out of order (within the bound), as real streams are; in the unit the source's events use.
      const timeMs = baseMs + index * SPACING_MS - (jitterMs > 0 ? spread(index, field) % jitterMs : 0);
      return spec.unit === 's' ? timeMs / 1000 : timeMs;
    }
    case 'string':
      return `${name.slice(0, 4)}${spread(index, field)}`;
    case 'int':
      return spread(index, field);
    case 'float':
      return spread(index, field) / 8;
    case 'bool':
      return index % 2 === 0;
  }
}

/**
 * The `index`th synthetic event of `source`: every field in declared order
 * with a value of its type, event time `baseMs + index × 4 ms`, up to
 * `jitterMs` earlier.
 */
export function syntheticEvent(source: Source, index: number, baseMs: number, jitterMs: number): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  let field = 0;
  for (const [name, spec] of Object.entries(source.fields)) event[name] = syntheticValue(spec, name, field++, index, baseMs, jitterMs);
  return event;
}

/**
 * `events` synthetic events of `source` as JSON messages keyed as the producer keys them (`source.keyOf`), at
 * offsets 0, 1, …, WARM_UP_BATCH_SIZE at a time, packed by the consumer's own `packBatch`, so the thread meets
 * them exactly as it meets a Kafka batch.
 */
export function* warmUpBatches(source: Source, events: number, baseMs: number, jitterMs: number): Generator<PackedBatch> {
  for (let from = 0; from < events; from += WARM_UP_BATCH_SIZE) {
    const count = Math.min(WARM_UP_BATCH_SIZE, events - from);
    // packBatch reads a message's offset, key and value only.
    const messages = Array.from({ length: count }, (_, at) => {
      const event = syntheticEvent(source, from + at, baseMs, jitterMs);
      return { offset: String(from + at), key: Buffer.from(source.keyOf(event as Parameters<Source['keyOf']>[0])), value: Buffer.from(JSON.stringify(event)) };
    }) as unknown as KafkaMessage[];
    yield packBatch(-1, messages, null)!.batch;
  }
}

/** Rounds of fresh throwaway pipelines in a warm-up (see {@link warmUpSchedule}). */
export const WARM_UP_ROUNDS = 2;
/** Throwaway pipelines per round (partitions -1, -2, …), fed in turn as a thread's real partitions are. */
export const WARM_UP_PARTITIONS = 2;

/** One warm-up batch, and where it goes: its round of fresh pipelines and which of them (0-based). */
export interface WarmUpStep {
  readonly round: number;
  readonly slot: number;
  readonly batch: PackedBatch;
}

/**
 * The warm-up's batches ({@link warmUpBatches}) in WARM_UP_ROUNDS rounds of fresh pipelines, each round's
 * batches dealt out in turn to WARM_UP_PARTITIONS of them, made one at a time. Objects made by code the JIT
 * has already optimised (a pipeline restored after the warm-up, its first cells, sketches and sessions)
 * otherwise take that code down a path it has not seen, and V8 drops it and compiles it again on real events.
 */
export function* warmUpSchedule(source: Source, events: number, baseMs: number, jitterMs: number): Generator<WarmUpStep> {
  const perRound = Math.ceil(Math.ceil(events / WARM_UP_BATCH_SIZE) / WARM_UP_ROUNDS);
  let index = 0;
  for (const batch of warmUpBatches(source, events, baseMs, jitterMs)) {
    yield { round: Math.floor(index / perRound), slot: index % WARM_UP_PARTITIONS, batch };
    index++;
  }
}
