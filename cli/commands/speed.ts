import { Command } from 'commander';
import { redactUrl } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { configFor, say, catalogFor, loggerFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

export function speedCommand(): Command {
  return new Command('speed')
    .description('run a speed worker: Kafka → keyed event-time windows → Redis, exactly once in effect (start several to share partitions)')
    .option('--views <names>', 'comma-separated views to compute (default: all); a subset gets its own consumer group')
    .action(async (options: { views?: string }, command: Command) => {
      const config = configFor(command);
      const registry = (await catalogFor(config)).views;
      const views = options.views
        ? options.views
            .split(',')
            .map((name) => name.trim())
            .filter(Boolean)
            .map((name) => registry.get(name))
        : [...registry.views.values()];
      if (views.length === 0) throw new BraidError(ErrorCode.BAD_ARGUMENT, 'no views to compute', { hint: `define views in ${config.views.dir} or enable views.includeDemo` });

      const logger = loggerFor(config, 'speed');
      const metricsRegistry = createMetricsRegistry('speed');
      const metrics = await startMetricsServer({ registry: metricsRegistry, host: config.metrics.host, port: config.metrics.port });
      logger.info({ metrics: metrics.url, brokers: config.kafka.brokers, redis: redactUrl(config.redis.url) }, 'starting speed worker');
      say(`speed: computing ${views.map((view) => view.name).join(', ')}; metrics on ${metrics.url}`);
      // Listen for signals before starting, so a signal during start-up still ends in a clean stop.
      let signalled = false;
      let worker: SpeedWorker | undefined;
      let stopping: Promise<void> | undefined;
      const remove = onShutdownSignal((signal) => {
        say(`${signal}: flushing and leaving the group…`);
        signalled = true;
        if (worker) stopping = worker.stop();
      });
      try {
        worker = await SpeedWorker.start({
          config,
          views,
          logger,
          registry: metricsRegistry,
          allViewsOfSource: (source) => registry.forSource(source),
        });
        if (signalled) stopping = worker.stop();
        await worker.done;
        await stopping;
        say('speed worker stopped cleanly');
      } finally {
        // Handlers stay until the very end: a SIGTERM during the last clean-up must not kill the process mid-way.
        await metrics.close();
        remove();
      }
    });
}
