import { type Message } from 'kafkajs';
import { createKafkaClient, createProducer, ensureTopics } from '../shared/clients/index.ts';
import { loadConfig } from '../shared/config/index.ts';
import { ClickstreamGenerator, produceDemo } from '../shared/demo/index.ts';
import { createLogger } from '../shared/logging/index.ts';
import { createMetricsRegistry } from '../shared/metrics/index.ts';
import { stackUp } from '../infra/stack/index.ts';
import { bestRate, defineBenchmark } from './lib/benchmark.ts';

const GENERATED = 500_000;
const PRODUCED = 200_000;
const BATCH = 1_000;
const IN_FLIGHT = 1; // as produceDemo: one send at a time keeps each partition in order

/**
 * The demo producer: in-process generation rate, and events/s into Kafka next
 * to a bare kafkajs producer sending the same pre-generated messages with the
 * same batch size and concurrency, measured in the same run (ratio = braid / bare).
 */
export default defineBenchmark({
  name: 'produce',
  description: `demo generator in-process (${GENERATED.toLocaleString()} events) and into Kafka (${PRODUCED.toLocaleString()} events) vs bare kafkajs`,
  async run({ progress }) {
    const generatorEventsPerS = await bestRate(GENERATED, 3, () => {
      const generator = new ClickstreamGenerator({ seed: 1, disorderMs: 5_000, lateFraction: 0.01, badFraction: 0.001 });
      for (let index = 0; index < GENERATED; index++) generator.next(1_767_225_600_000 + index);
    });
    progress(`generator: ${Math.round(generatorEventsPerS).toLocaleString()} events/s in-process`);

    const config = loadConfig();
    const stack = await stackUp(config, progress);
    const logger = createLogger({ level: 'warn', name: 'bench' });
    const kafka = createKafkaClient({ brokers: stack.kafkaBrokers, clientId: 'braid-bench', logger });
    const suffix = Date.now().toString(36);
    const braidTopic = `bench-produce-braid-${suffix}`;
    const rawTopic = `bench-produce-raw-${suffix}`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: braidTopic, partitions: 4 },
      { topic: rawTopic, partitions: 4 },
    ]);

    try {
      // Baseline: the same messages, pre-generated, sent by a bare kafkajs producer.
      const generator = new ClickstreamGenerator({ seed: 2 });
      const messages: Message[] = [];
      for (let index = 0; index < PRODUCED; index++) {
        const message = generator.next(1_767_225_600_000 + index);
        messages.push({ key: message.key, value: message.value });
      }
      const producer = createProducer(kafka, { allowAutoTopicCreation: true });
      await producer.connect();
      progress('bare kafkajs producer…');
      const rawStarted = process.hrtime.bigint();
      const inFlight = new Set<Promise<unknown>>();
      for (let offset = 0; offset < messages.length; offset += BATCH) {
        if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
        const sending: Promise<unknown> = producer
          .send({ topic: rawTopic, messages: messages.slice(offset, offset + BATCH), acks: -1 })
          .finally(() => inFlight.delete(sending));
        inFlight.add(sending);
      }
      await Promise.all(inFlight);
      const rawEventsPerS = PRODUCED / (Number(process.hrtime.bigint() - rawStarted) / 1e9);
      await producer.disconnect();
      progress(`bare kafkajs: ${Math.round(rawEventsPerS).toLocaleString()} events/s`);

      progress('braid produce…');
      const result = await produceDemo({
        kafka,
        logger,
        registry: createMetricsRegistry('bench'),
        source: 'clickstream',
        topic: braidTopic,
        partitions: 4,
        generator: new ClickstreamGenerator({ seed: 2 }),
        ratePerS: Infinity,
        count: PRODUCED,
        startMs: 1_767_225_600_000,
        spanMs: PRODUCED,
        batchSize: BATCH,
      });
      const braidEventsPerS = (result.sent * 1000) / result.elapsedMs;
      progress(`braid produce: ${Math.round(braidEventsPerS).toLocaleString()} events/s`);
      return {
        generator_events_per_s: Math.round(generatorEventsPerS),
        produce_events_per_s: Math.round(braidEventsPerS),
        raw_kafkajs_events_per_s: Math.round(rawEventsPerS),
        ratio_vs_baseline: Math.round((braidEventsPerS / rawEventsPerS) * 1000) / 1000,
      };
    } finally {
      await admin.deleteTopics({ topics: [braidTopic, rawTopic] }).catch(() => undefined);
      await admin.disconnect();
    }
  },
});
