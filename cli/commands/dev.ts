import { Command, Option } from 'commander';
import { stackDown, stackUp } from '../../infra/stack/index.ts';
import { createKafkaClient } from '../../shared/clients/index.ts';
import { demoGenerator, produceDemo } from '../../shared/demo/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { clickstream, getSource } from '../../shared/sources/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { Archiver, recomputeView } from '../../batch/index.ts';
import { configFor, say, viewsFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

interface DevFlags {
  generator: boolean;
  rate: number;
}

/**
 * `npm start`: the platform in one command. Today that is the local stack, a
 * speed worker for every view, the archiver, an incremental recompute of every
 * view every couple of minutes, and the demo clickstream generator; the server
 * joins here when it is built (issue #5).
 */
export function devCommand(): Command {
  return new Command('dev')
    .description('run the platform locally (what `npm start` runs): the stack, a speed worker, the archiver, periodic recompute and the demo event stream, until Ctrl-C')
    .addOption(new Option('--no-generator', 'do not run the demo generator (bring your own events)'))
    .addOption(
      new Option('--rate <events/s>', 'demo events per second')
        .argParser((text) => {
          const value = Number(text);
          if (!Number.isInteger(value) || value < 1) throw new Error('--rate takes a whole number ≥ 1');
          return value;
        })
        .default(500),
    )
    .action(async (flags: DevFlags, command: Command) => {
      const config = configFor(command);
      const stack = await stackUp(config, say);
      say(`KAFKA_BROKERS=${stack.kafkaBrokers.join(',')}\nREDIS_URL=${stack.redisUrl}`);
      const logger = createLogger({ level: config.log.level, name: 'dev' });
      const registry = createMetricsRegistry('dev');
      const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
      say(`Metrics: ${metrics.url}`);

      const registryOfViews = await viewsFor(config);
      const views = [...registryOfViews.views.values()];
      const devConfig = { ...config, kafka: { ...config.kafka, brokers: stack.kafkaBrokers }, redis: { ...config.redis, url: stack.redisUrl } };
      const worker = await SpeedWorker.start({ config: devConfig, views, logger, registry, allViewsOfSource: (source) => registryOfViews.forSource(source) });
      say(`Speed worker: ${views.map((view) => view.name).join(', ')} → Redis ${stack.redisUrl}`);
      const archiver = await Archiver.start({ config: devConfig, source: getSource(clickstream.name), logger, registry });
      say(`Archiver: ${clickstream.name} → ${devConfig.dataDir}/master (Parquet)`);
      let recomputing = false;
      const recomputeAll = async () => {
        if (recomputing) return;
        recomputing = true;
        try {
          for (const view of views) {
            const manifest = await recomputeView({ config: devConfig, view, incremental: true });
            say(`[dev] batch ${view.name} v${manifest.version}: cutoff ${new Date(manifest.cutoffMs).toISOString()}, ${manifest.rowCount} rows (${manifest.mode})`);
          }
        } catch (error) {
          logger.warn({ err: error }, 'recompute skipped');
        } finally {
          recomputing = false;
        }
      };
      const firstRecompute = setTimeout(() => void recomputeAll(), 45_000);
      const recomputeTimer = setInterval(() => void recomputeAll(), 2 * 60_000);
      say('Recompute: every view incrementally, first in 45 s, then every 2 min');

      const abort = new AbortController();
      const removeSignalHandler = onShutdownSignal((signal) => {
        say(`\n${signal}: stopping (flushing what was generated)…`);
        abort.abort();
      });
      try {
        if (flags.generator) {
          const settings = config.sources[clickstream.name]!;
          const topic = settings.topic ?? clickstream.topic;
          say(`Streaming demo clickstream events to ${topic} at ${flags.rate}/s (5 s disorder, 0.5% late, 0.1% bad). Ctrl-C stops.`);
          let lastReport = 0;
          await produceDemo({
            kafka: createKafkaClient({ brokers: stack.kafkaBrokers, clientId: `${config.kafka.clientId}-dev`, logger }),
            logger,
            registry,
            source: clickstream.name,
            topic,
            partitions: settings.partitions,
            generator: demoGenerator(clickstream.name, { seed: Date.now() % 1_000_000, disorderMs: 5_000, lateFraction: 0.005, badFraction: 0.001 }),
            ratePerS: flags.rate,
            signal: abort.signal,
            onProgress: (progress) => {
              if (progress.elapsedMs - lastReport < 5_000) return;
              lastReport = progress.elapsedMs;
              const watermark = progressWatermark(worker);
              say(
                `[dev] ${progress.sent} events sent (${Math.round(progress.ratePerS)}/s; ${progress.byKind.late} late, ${progress.byKind.bad} bad, ${progress.errors} send errors)` +
                  (watermark ? `; speed watermark ${watermark}` : ''),
              );
            },
          });
        } else {
          say('No generator (--no-generator). Ctrl-C stops.');
          await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        }
      } finally {
        removeSignalHandler();
        clearTimeout(firstRecompute);
        clearInterval(recomputeTimer);
        await archiver.stop();
        await worker.stop();
        await metrics.close();
        const ours = (['kafka', 'redis'] as const).filter((name) => stack[name] === 'started');
        if (ours.length > 0) await stackDown(config, say, ours);
        say('Stopped.');
      }
    });
}

/** The speed worker's clickstream watermark as ISO text, if it has one. */
function progressWatermark(worker: SpeedWorker): string | undefined {
  const watermark = worker.watermarks()[clickstream.name];
  return watermark === null || watermark === undefined ? undefined : new Date(watermark).toISOString();
}
