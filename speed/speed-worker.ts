import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type Producer } from 'kafkajs';
import { connectRedis, createKafkaClient, createProducer, ensureTopics } from '../shared/clients/index.ts';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { Registry } from '../shared/metrics/index.ts';
import type { View } from '../shared/views/index.ts';
import { SpeedKeys } from '../shared/speed-contract/index.ts';
import { createSpeedMetrics, startCountersAtZero } from './speed-metrics.ts';
import { deadLetterTopic, lateTopic } from './consumer/dead-letter-and-late.ts';
import { SourceConsumer } from './consumer/source-consumer.ts';

export interface SpeedWorkerOptions {
  config: Config;
  /** The views to compute (all on their sources, one pass over each message). */
  views: readonly View[];
  logger: Logger;
  registry: Registry;
  /** Default: every view of the source → group `<clientId>-speed.<source>`; a subset gets its own group. */
  allViewsOfSource?: (source: string) => readonly View[];
}

/** The consumer group that computes `views` of `source`: shared by all workers computing the same set. */
export function speedGroupId(clientId: string, source: string, views: readonly View[], allViews: readonly View[]): string {
  const base = `${clientId}-speed.${source}`;
  const names = views.map((view) => view.name).sort();
  const all = allViews.map((view) => view.name).sort();
  if (names.join(',') === all.join(',')) return base;
  return `${base}.${createHash('sha256').update(names.join(',')).digest('hex').slice(0, 8)}`;
}

/**
 * A speed worker: one consumer-group member per source, computing every
 * selected view of that source in one pass over each message, flushing to
 * Redis every `speed.flushIntervalMs`, and sooner (`speed.minFlushIntervalMs`
 * after the previous flush) once it has read everything its partitions hold.
 * Start several (processes, machines) and they share the partitions.
 *
 * @example
 * const worker = await SpeedWorker.start({ config, views: registry.forSource('clickstream'), logger, registry: metrics });
 * await worker.stop(); // flush, commit, leave the group
 */
export class SpeedWorker {
  private timer: NodeJS.Timeout | undefined;
  private fatal: ((error: Error) => void) | undefined;
  /** Rejects if the worker cannot go on (it has then stopped consuming). */
  readonly done: Promise<void>;
  private resolveDone: (() => void) | undefined;

  private constructor(
    readonly consumers: SourceConsumer[],
    private readonly producer: Producer,
    readonly redis: Redis,
    private readonly logger: Logger,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.fatal = reject;
    });
    this.done.catch(() => undefined);
  }

  static async start(options: SpeedWorkerOptions): Promise<SpeedWorker> {
    const { config, logger } = options;
    const kafka = createKafkaClient({ ...config.kafka, clientId: `${config.kafka.clientId}-speed`, logger });
    const redis = await connectRedis(config.redis, { name: 'braid-speed' });
    const producer = createProducer(kafka);
    const metrics = createSpeedMetrics(options.registry);
    const keys = new SpeedKeys(config.redis.keyPrefix);

    const bySource = new Map<string, View[]>();
    for (const view of options.views) bySource.set(view.source.name, [...(bySource.get(view.source.name) ?? []), view]);
    const admin = kafka.admin();
    const consumers: SourceConsumer[] = [];
    let worker: SpeedWorker | undefined;
    try {
      await admin.connect();
      await producer.connect();
      for (const [sourceName, views] of bySource) {
        const source = views[0]!.source;
        const settings = sourceSettings(config, sourceName);
        const topic = settings.topic ?? source.topic;
        await ensureTopics(admin, [
          { topic, partitions: settings.partitions },
          { topic: deadLetterTopic(topic), partitions: settings.partitions },
          { topic: lateTopic(topic), partitions: settings.partitions },
        ]);
        startCountersAtZero(metrics, sourceName, views);
        const group = speedGroupId(config.kafka.clientId, sourceName, views, options.allViewsOfSource?.(sourceName) ?? views);
        consumers.push(
          new SourceConsumer({
            kafka,
            redis,
            producer,
            source,
            topic,
            settings,
            views,
            keys,
            redisConnection: config.redis,
            group,
            logger,
            metrics,
            maxPendingCells: config.speed.maxPendingCells,
            minFlushIntervalMs: config.speed.minFlushIntervalMs,
            flushRetries: config.speed.flushRetries,
            sessionTimeoutMs: config.speed.sessionTimeoutMs,
            pipelineThreads: config.speed.pipelineThreads,
            warmUpEvents: config.speed.warmUpEvents,
            onFatal: (error) => worker?.fail(error),
          }),
        );
      }
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      redis.disconnect();
      throw error;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    worker = new SpeedWorker(consumers, producer, redis, logger);
    try {
      for (const consumer of consumers) await consumer.start();
    } catch (error) {
      // Leave nothing running or connected behind a failed start (threads included): the process can then exit.
      await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
      await producer.disconnect().catch(() => undefined);
      redis.disconnect();
      throw error;
    }
    worker.timer = setInterval(() => {
      worker!.flush().catch((error: unknown) => logger.error({ err: error }, 'flush failed'));
    }, config.speed.flushIntervalMs);
    logger.info(
      { views: options.views.map((view) => view.name), groups: consumers.map((consumer) => consumer.group), flushIntervalMs: config.speed.flushIntervalMs },
      'speed worker started',
    );
    return worker;
  }

  private fail(error: Error): void {
    this.logger.fatal({ err: error }, 'speed worker cannot go on');
    if (this.timer) clearInterval(this.timer);
    this.fatal?.(error);
  }

  /** Flushes every source now. */
  async flush(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.flush()));
  }

  /** Worker watermark per source (min over non-idle assigned partitions), epoch ms. */
  watermarks(): Record<string, number | null> {
    return Object.fromEntries(this.consumers.map((consumer) => [consumer.sourceName, consumer.watermarkMs()]));
  }

  /** Graceful stop: stop fetching, flush, commit, leave the group, close clients. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      await Promise.all(this.consumers.map((consumer) => consumer.stop()));
    } finally {
      // Even when the last flush failed (a restart replays it), leave nothing connected behind.
      await this.producer.disconnect().catch(() => undefined);
      this.redis.disconnect();
      this.resolveDone?.();
      this.logger.info('speed worker stopped');
    }
  }
}
