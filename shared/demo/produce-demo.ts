import { createWriteStream, type WriteStream } from 'node:fs';
import { type Kafka, type Message } from 'kafkajs';
import { createProducer, ensureTopics } from '../clients/index.ts';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';
import { Counter, Histogram, type Registry } from '../metrics/index.ts';
import type { MessageKind } from './clickstream-generator.ts';
import type { DemoGenerator } from './generators.ts';

export interface ProduceDemoOptions {
  kafka: Kafka;
  logger: Logger;
  registry: Registry;
  source: string;
  topic: string;
  partitions: number;
  generator: DemoGenerator;
  /** Events per second; `Infinity` for as fast as Kafka takes them. */
  ratePerS: number;
  /** Stop after this many messages (bad ones included). */
  count?: number;
  /** Stop after this long (wall clock). */
  durationMs?: number;
  /** Event-time mode: spread event times evenly from `startMs` over `spanMs` (needs `count`). Else: wall clock. */
  startMs?: number;
  spanMs?: number;
  /** Also append every message that Kafka acknowledged, one per line, to this file. */
  teeFile?: string;
  /** Messages per Kafka request. Default 1,000. */
  batchSize?: number;
  /** Called about every 250 ms and at the end. */
  onProgress?: (progress: ProduceProgress) => void;
  /** Aborting stops generating; what was generated is still sent and teed. */
  signal?: AbortSignal;
}

export interface ProduceProgress {
  readonly sent: number;
  readonly byKind: Readonly<Record<MessageKind, number>>;
  /** Failed send attempts (each was retried). */
  readonly errors: number;
  readonly elapsedMs: number;
  readonly ratePerS: number;
}

/**
 * One send at a time: concurrent sends can land out of order within a
 * partition, which would add disorder beyond what was asked for (a batch spans
 * minutes of event time in event-time mode). The next batch is generated while
 * one is in flight.
 */
const MAX_IN_FLIGHT = 1;
const SEND_ATTEMPTS = 5;

/**
 * Produces a demo source's events to Kafka at a steady rate, creating the
 * topic if needed. Resolves with the final counts once every generated
 * message is acknowledged by Kafka (and written to the tee file).
 */
export async function produceDemo(options: ProduceDemoOptions): Promise<ProduceProgress> {
  const { kafka, logger, generator, topic } = options;
  if (options.count === undefined && options.durationMs === undefined && !options.signal) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, 'produce needs a count, a duration or an abort signal');
  }
  if (options.startMs !== undefined && (options.spanMs === undefined || options.count === undefined)) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, 'event-time mode (--start) needs --span and a known count (--count, or --rate with --duration)');
  }
  const batchSize = options.batchSize ?? 1_000;
  const produced = new Counter({
    name: 'braid_demo_events_produced_total',
    help: 'Demo events acknowledged by Kafka, by kind (ok, late, bad).',
    labelNames: ['source', 'kind'],
    registers: [options.registry],
  });
  const sendErrors = new Counter({
    name: 'braid_demo_send_errors_total',
    help: 'Failed Kafka send attempts of the demo producer (each is retried).',
    labelNames: ['source'],
    registers: [options.registry],
  });
  const sendSeconds = new Histogram({
    name: 'braid_demo_send_duration_seconds',
    help: 'Duration of one batch send to Kafka.',
    labelNames: ['source'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [options.registry],
  });

  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, [{ topic, partitions: options.partitions }]);
    if (created.length > 0) logger.info({ topic, partitions: options.partitions }, 'created topic');
  } finally {
    await admin.disconnect();
  }

  const producer = createProducer(kafka);
  await producer.connect();
  const tee: WriteStream | undefined = options.teeFile ? createWriteStream(options.teeFile, { flags: 'w' }) : undefined;
  const byKind: Record<MessageKind, number> = { ok: 0, late: 0, bad: 0 };
  let sent = 0;
  let generated = 0;
  let errors = 0;
  const started = Date.now();
  const progress = (): ProduceProgress => {
    const elapsedMs = Date.now() - started;
    return { sent, byKind: { ...byKind }, errors, elapsedMs, ratePerS: elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0 };
  };
  const ticker = setInterval(() => options.onProgress?.(progress()), 250);

  const sendBatch = async (messages: Message[], kinds: MessageKind[]): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const timer = sendSeconds.startTimer({ source: options.source });
      try {
        await producer.send({ topic, messages, acks: -1 });
        timer();
        break;
      } catch (error) {
        errors++;
        sendErrors.inc({ source: options.source });
        if (attempt >= SEND_ATTEMPTS) {
          throw new BraidError(ErrorCode.KAFKA_UNREACHABLE, `could not send to ${topic} after ${attempt} attempts: ${(error as Error).message}`, {
            cause: error,
            fields: { topic },
          });
        }
        logger.warn({ topic, attempt, err: error }, 'send failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
    sent += messages.length;
    for (const kind of kinds) {
      byKind[kind]++;
      produced.inc({ source: options.source, kind });
    }
    if (tee) {
      // Only acknowledged messages are teed, so the file holds exactly what the topic does.
      const lines = messages.map((message) => `${message.value as string}\n`).join('');
      if (!tee.write(lines)) await new Promise<void>((resolve) => tee.once('drain', () => resolve()));
    }
  };

  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    const ratePerMs = options.ratePerS / 1000;
    for (;;) {
      if (failure) throw failure;
      if (options.signal?.aborted) break;
      const elapsed = Date.now() - started;
      if (options.durationMs !== undefined && elapsed >= options.durationMs) break;
      const remaining = options.count === undefined ? Infinity : options.count - generated;
      if (remaining <= 0) break;
      const allowed = Number.isFinite(ratePerMs) ? Math.floor(elapsed * ratePerMs) + 1 - generated : Infinity;
      if (allowed <= 0 || inFlight.size >= MAX_IN_FLIGHT) {
        if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
        else await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(50, (1 - allowed) / ratePerMs))));
        continue;
      }
      const size = Math.min(batchSize, remaining, allowed);
      const messages: Message[] = [];
      const kinds: MessageKind[] = [];
      const now = Date.now();
      for (let index = 0; index < size; index++) {
        const baseTimeMs =
          options.startMs !== undefined ? options.startMs + Math.floor((options.spanMs! * generated) / options.count!) : now;
        const message = generator.next(baseTimeMs);
        messages.push({ key: message.key, value: message.value });
        kinds.push(message.kind);
        generated++;
      }
      const pending: Promise<void> = sendBatch(messages, kinds)
        .catch((error: unknown) => {
          failure = error;
        })
        .finally(() => inFlight.delete(pending));
      inFlight.add(pending);
    }
  } finally {
    await Promise.all(inFlight);
    clearInterval(ticker);
    if (tee) await new Promise<void>((resolve, reject) => tee.end((error?: Error | null) => (error ? reject(error) : resolve())));
    await producer.disconnect();
  }
  if (failure) throw failure;
  const final = progress();
  options.onProgress?.(final);
  return final;
}
