import type { Kafka } from 'kafkajs';
import { BraidError, ErrorCode } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';
import type { Registry } from '../metrics/index.ts';
import { produceMessages, type OutgoingMessage, type ProduceProgress } from '../produce/index.ts';
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
  onProgress?: (progress: DemoProgress) => void;
  /** Aborting stops generating; what was generated is still sent and teed. */
  signal?: AbortSignal;
}

/** Progress of a demo run: messages acknowledged, by kind (ok, late, bad). */
export type DemoProgress = ProduceProgress<MessageKind>;

const DEMO_KINDS: readonly MessageKind[] = ['ok', 'late', 'bad'];

/** The generator's messages, each stamped with its base time: the clock, or its even share of the event-time span. */
function* demoMessages(
  generator: DemoGenerator,
  eventTime: { startMs: number | undefined; spanMs: number | undefined; count: number | undefined },
): Generator<OutgoingMessage<MessageKind>> {
  const { startMs, spanMs, count } = eventTime;
  for (let generated = 0; ; generated++) {
    const baseTimeMs = startMs !== undefined ? startMs + Math.floor((spanMs! * generated) / count!) : Date.now();
    const message = generator.next(baseTimeMs);
    yield { key: message.key, value: message.value, kind: message.kind };
  }
}

/**
 * Produces a demo source's events to Kafka at a steady rate, creating the
 * topic if needed. Resolves with the final counts once every generated
 * message is acknowledged by Kafka (and written to the tee file).
 *
 * @example
 * await produceDemo({ kafka, logger, registry, source: 'clickstream', topic: 'clickstream', partitions: 3,
 *   generator: demoGenerator('clickstream', { seed: 1 }), ratePerS: 5_000, count: 10_000 });
 */
export async function produceDemo(options: ProduceDemoOptions): Promise<DemoProgress> {
  if (options.count === undefined && options.durationMs === undefined && !options.signal) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, 'produce needs a count, a duration or an abort signal');
  }
  if (options.startMs !== undefined && (options.spanMs === undefined || options.count === undefined)) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, 'event-time mode (--start) needs --span and a known count (--count, or --rate with --duration)');
  }
  const { generator, startMs, spanMs, ...run } = options;
  return produceMessages({
    ...run,
    messages: demoMessages(generator, { startMs, spanMs, count: options.count }),
    kinds: DEMO_KINDS,
    metricsPrefix: 'braid_demo',
  });
}
