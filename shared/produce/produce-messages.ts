import { createWriteStream, type WriteStream } from 'node:fs';
import { type Kafka, type Message, type TopicMessages } from 'kafkajs';
import { createProducer, ensureTopics } from '../clients/index.ts';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';
import { Counter, Histogram, type Registry } from '../metrics/index.ts';

/** One message to produce, with what it is meant to be (`kind`) so progress can count each kind. */
export interface OutgoingMessage<K extends string> {
  /** Kafka key, or null (placed by a hash of the value). */
  readonly key: string | null;
  readonly value: string;
  readonly kind: K;
  /** Another topic than the run's `topic` (one of `extraTopics`), e.g. a dead-letter topic. */
  readonly topic?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ProduceMessagesOptions<K extends string> {
  kafka: Kafka;
  logger: Logger;
  registry: Registry;
  /** Source name: the `source` label of the metrics. */
  source: string;
  /** Where messages go unless they name another topic. Created if missing. */
  topic: string;
  /** Further topics messages may name, created if missing. Default none. */
  extraTopics?: readonly string[];
  /** Partitions of the topics this creates. */
  partitions: number;
  /** The messages, pulled as the rate allows; the run ends when they end (or at `count`, `durationMs`, `signal`). */
  messages: Iterable<OutgoingMessage<K>> | AsyncIterable<OutgoingMessage<K>>;
  /** Every kind `messages` may carry, for the counts. */
  kinds: readonly K[];
  /** Metric name prefix, e.g. `braid_demo` → `braid_demo_events_produced_total`. */
  metricsPrefix: string;
  /** Messages per second; `Infinity` for as fast as Kafka takes them. */
  ratePerS: number;
  /** Stop after this many messages. */
  count?: number;
  /** Stop after this long (wall clock). */
  durationMs?: number;
  /** Also append every message that Kafka acknowledged, one value per line, to this file. */
  teeFile?: string;
  /** Messages per Kafka request. Default 1,000. */
  batchSize?: number;
  /** Called about every 250 ms and at the end. */
  onProgress?: (progress: ProduceProgress<K>) => void;
  /** Aborting stops pulling messages; what was pulled is still sent and teed. */
  signal?: AbortSignal;
}

export interface ProduceProgress<K extends string> {
  readonly sent: number;
  readonly byKind: Readonly<Record<K, number>>;
  /** Failed send attempts (each was retried). */
  readonly errors: number;
  readonly elapsedMs: number;
  readonly ratePerS: number;
}

/**
 * One send at a time: concurrent sends can land out of order within a
 * partition, which would add disorder beyond what the messages carry. The
 * next batch is pulled (generated, or read from a file) while one is in
 * flight, and waits for its turn.
 */
const MAX_IN_FLIGHT = 1;
const SEND_ATTEMPTS = 5;

type Step<T> = IteratorResult<T> | Promise<IteratorResult<T>>;

/**
 * Produces messages to Kafka at a steady rate, creating the topics if needed:
 * idempotent sends, one request in flight, each retried up to 5 times.
 * Resolves with the final counts once every pulled message is acknowledged by
 * Kafka (and written to the tee file). A synchronous iterable is pulled without
 * awaiting each message, so a fast generator stays fast.
 *
 * @example
 * const result = await produceMessages({
 *   kafka, logger, registry, source: 'orders', topic: 'orders', partitions: 3,
 *   messages: [{ key: 'o1', value: '{"ts":1767225600000,"order_id":"o1"}', kind: 'ok' }],
 *   kinds: ['ok'], metricsPrefix: 'braid_example', ratePerS: Infinity,
 * }); // { sent: 1, byKind: { ok: 1 }, … }
 */
export async function produceMessages<K extends string>(options: ProduceMessagesOptions<K>): Promise<ProduceProgress<K>> {
  const { kafka, logger, topic } = options;
  const batchSize = options.batchSize ?? 1_000;
  const produced = new Counter({
    name: `${options.metricsPrefix}_events_produced_total`,
    help: `Messages acknowledged by Kafka, by kind (${options.kinds.join(', ')}).`,
    labelNames: ['source', 'kind'],
    registers: [options.registry],
  });
  const sendErrors = new Counter({
    name: `${options.metricsPrefix}_send_errors_total`,
    help: 'Failed Kafka send attempts (each is retried).',
    labelNames: ['source'],
    registers: [options.registry],
  });
  const sendSeconds = new Histogram({
    name: `${options.metricsPrefix}_send_duration_seconds`,
    help: 'Duration of one batch send to Kafka.',
    labelNames: ['source'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [options.registry],
  });

  const topics = [topic, ...(options.extraTopics ?? [])];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, topics.map((name) => ({ topic: name, partitions: options.partitions })));
    if (created.length > 0) logger.info({ topics: created, partitions: options.partitions }, 'created topics');
  } finally {
    await admin.disconnect();
  }

  const producer = createProducer(kafka);
  await producer.connect();
  const tee: WriteStream | undefined = options.teeFile ? createWriteStream(options.teeFile, { flags: 'w' }) : undefined;
  const byKind = Object.fromEntries(options.kinds.map((kind) => [kind, 0])) as Record<K, number>;
  let sent = 0;
  let pulled = 0;
  let errors = 0;
  const started = Date.now();
  const progress = (): ProduceProgress<K> => {
    const elapsedMs = Date.now() - started;
    return { sent, byKind: { ...byKind }, errors, elapsedMs, ratePerS: elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0 };
  };
  const ticker = setInterval(() => options.onProgress?.(progress()), 250);

  const sendBatch = async (batch: ReadonlyArray<OutgoingMessage<K>>): Promise<void> => {
    const byTopic = new Map<string, Message[]>();
    for (const message of batch) {
      const target = message.topic ?? topic;
      let messages = byTopic.get(target);
      if (!messages) byTopic.set(target, (messages = []));
      messages.push(message.headers ? { key: message.key, value: message.value, headers: { ...message.headers } } : { key: message.key, value: message.value });
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([name, messages]) => ({ topic: name, messages }));
    for (let attempt = 1; ; attempt++) {
      const timer = sendSeconds.startTimer({ source: options.source });
      try {
        await producer.sendBatch({ topicMessages, acks: -1 });
        timer();
        break;
      } catch (error) {
        errors++;
        sendErrors.inc({ source: options.source });
        if (attempt >= SEND_ATTEMPTS) {
          throw new BraidError(ErrorCode.KAFKA_UNREACHABLE, `could not send to ${[...byTopic.keys()].join(', ')} after ${attempt} attempts: ${(error as Error).message}`, {
            cause: error,
            fields: { topic },
          });
        }
        logger.warn({ topic, attempt, err: error }, 'send failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
    sent += batch.length;
    for (const message of batch) {
      byKind[message.kind]++;
      produced.inc({ source: options.source, kind: message.kind });
    }
    if (tee) {
      // Only acknowledged messages are teed, so the file holds exactly what the topics do.
      const lines = batch.map((message) => `${message.value}\n`).join('');
      if (!tee.write(lines)) await new Promise<void>((resolve) => tee.once('drain', () => resolve()));
    }
  };

  const source = options.messages;
  const iterator: Iterator<OutgoingMessage<K>> | AsyncIterator<OutgoingMessage<K>> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let exhausted = false;
  try {
    const ratePerMs = options.ratePerS / 1000;
    while (!exhausted) {
      if (failure) throw failure;
      if (options.signal?.aborted) break;
      const elapsed = Date.now() - started;
      if (options.durationMs !== undefined && elapsed >= options.durationMs) break;
      const remaining = options.count === undefined ? Infinity : options.count - pulled;
      if (remaining <= 0) break;
      const allowed = Number.isFinite(ratePerMs) ? Math.floor(elapsed * ratePerMs) + 1 - pulled : Infinity;
      if (allowed <= 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(50, (1 - allowed) / ratePerMs))));
        continue;
      }
      const size = Math.min(batchSize, remaining, allowed);
      const batch: Array<OutgoingMessage<K>> = [];
      while (batch.length < size) {
        let step: Step<OutgoingMessage<K>> = iterator.next();
        if (step instanceof Promise) step = await step;
        if (step.done) {
          exhausted = true;
          break;
        }
        batch.push(step.value);
        pulled++;
      }
      if (batch.length === 0) break;
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      if (failure) throw failure;
      const pending: Promise<void> = sendBatch(batch)
        .catch((error: unknown) => {
          failure = error;
        })
        .finally(() => inFlight.delete(pending));
      inFlight.add(pending);
    }
  } finally {
    try {
      await Promise.all(inFlight);
      // Lets a file-backed iterable close its file when the run stops before the end.
      if (!exhausted) await iterator.return?.();
    } finally {
      clearInterval(ticker);
      if (tee) await new Promise<void>((resolve, reject) => tee.end((error?: Error | null) => (error ? reject(error) : resolve())));
      await producer.disconnect();
    }
  }
  if (failure) throw failure;
  const final = progress();
  options.onProgress?.(final);
  return final;
}
