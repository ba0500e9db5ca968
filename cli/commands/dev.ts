import { Command, Option } from 'commander';
import { stackDown, stackUp } from '../../infra/stack/index.ts';
import { createKafkaClient } from '../../shared/clients/index.ts';
import { demoGenerator, produceDemo } from '../../shared/demo/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { clickstream } from '../../shared/sources/index.ts';
import { configFor, say } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

interface DevFlags {
  generator: boolean;
  rate: number;
}

/**
 * `npm start`: the platform in one command. Today that is the local stack and
 * the demo clickstream generator; the speed worker, archiver, recompute and
 * server join here as they are built (issues #3–#5).
 */
export function devCommand(): Command {
  return new Command('dev')
    .description('run the platform locally (what `npm start` runs): bring up the stack and stream demo clickstream events until Ctrl-C')
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
              say(`[dev] ${progress.sent} events sent (${Math.round(progress.ratePerS)}/s; ${progress.byKind.late} late, ${progress.byKind.bad} bad, ${progress.errors} send errors)`);
            },
          });
        } else {
          say('No generator (--no-generator). Ctrl-C stops.');
          await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        }
      } finally {
        removeSignalHandler();
        await metrics.close();
        const ours = (['kafka', 'redis'] as const).filter((name) => stack[name] === 'started');
        if (ours.length > 0) await stackDown(config, say, ours);
        say('Stopped.');
      }
    });
}
