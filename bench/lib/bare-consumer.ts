import type { ConsumerConfig, Kafka } from 'kafkajs';
import { cpuPerEvent, cpuSnapshot, type CpuSnapshot } from './cpu-usage.ts';

export interface BareConsumeOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  /** A group of its own, so the topic is read from the beginning. */
  readonly groupId: string;
  /** Messages on the topic: the run ends at the last one. */
  readonly expected: number;
  /** Each message is decoded with this source, as the consumer compared with decodes it. */
  readonly source: { decode(bytes: Buffer | null): { readonly ok: boolean } };
  /** Fetch settings of the consumer compared with (session timeout, bytes per partition…), so both fetch alike. */
  readonly consumer: Omit<ConsumerConfig, 'groupId'>;
  readonly timeoutMs: number;
  /** Share of the messages after which the steady-state rate starts. Default 0.2. */
  readonly steadyFrom?: number;
}

export interface BareConsumeResult {
  /** Messages per second from the first message handed over to the last (the group join is not counted). */
  readonly eventsPerS: number;
  /** The same after the first `steadyFrom` of the messages. */
  readonly steadyEventsPerS: number;
  /** Messages that decoded to a valid event. */
  readonly decoded: number;
  /** CPU µs per event of this process's threads and the machine's idle share, first to last message; null off Linux. */
  readonly cpu: ReturnType<typeof cpuPerEvent> | null;
}

/**
 * The baseline the consuming layers are measured against: a bare kafkajs
 * consumer in a group of its own that only decodes each message with the
 * source (JSON + schema), nothing else, one partition's batch at a time.
 * The speed and archive benchmarks both divide their consumer's rate by this one's.
 *
 * @example
 * const bare = await bareConsume({ kafka, topic, groupId: 'bench-bare-1', expected: 1_000_000, source: clickstream,
 *   consumer: { sessionTimeout: 30_000, maxBytesPerPartition: 1_048_576 }, timeoutMs: 120_000 });
 * bare.eventsPerS; // e.g. 350_000
 */
export async function bareConsume(options: BareConsumeOptions): Promise<BareConsumeResult> {
  const { expected, source } = options;
  const steadyFrom = options.steadyFrom ?? 0.2;
  const consumer = options.kafka.consumer({ ...options.consumer, groupId: options.groupId });
  let firstNs: bigint | undefined;
  let lastNs: bigint | undefined;
  let cpuAtFirst: CpuSnapshot | null = null;
  let cpuAtLast: CpuSnapshot | null = null;
  /** When at least `steadyFrom` of the messages had been seen, and how many. */
  let steadyNs: bigint | undefined;
  let steadySeen = 0;
  let seen = 0;
  let decoded = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat }) => {
        if (firstNs === undefined) {
          cpuAtFirst = cpuSnapshot();
          firstNs = process.hrtime.bigint();
        }
        for (const message of batch.messages) {
          if (source.decode(message.value).ok) decoded++;
          seen++;
        }
        if (steadyNs === undefined && seen >= expected * steadyFrom) {
          steadyNs = process.hrtime.bigint();
          steadySeen = seen;
        }
        if (seen >= expected && lastNs === undefined) {
          lastNs = process.hrtime.bigint();
          cpuAtLast = cpuSnapshot();
          finish();
        }
        await heartbeat();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`bare consumer saw ${seen} of ${expected} messages in ${options.timeoutMs / 1000} s`)), options.timeoutMs);
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect();
  }
  return {
    eventsPerS: expected / (Number(lastNs! - firstNs!) / 1e9),
    steadyEventsPerS: (expected - steadySeen) / (Number(lastNs! - steadyNs!) / 1e9),
    decoded,
    cpu: cpuAtFirst && cpuAtLast ? cpuPerEvent(cpuAtFirst, cpuAtLast, expected, new Set((cpuAtFirst as CpuSnapshot).threads.keys())) : null,
  };
}
