import { Command } from 'commander';
import { Archiver } from '../../batch/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { catalogFor, configFor, say, loggerFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

export function archiveCommand(): Command {
  return new Command('archive')
    .description('archive every source topic into the Parquet master dataset (dataDir/master/<source>/<YYYY-MM-DD>/), exactly once')
    .option('--sources <names>', 'comma-separated sources (default: all; `npx braid sources` lists them)')
    .action(async (options: { sources?: string }, command: Command) => {
      const config = configFor(command);
      const catalog = await catalogFor(config);
      const sources = catalog.sourcesNamed(options.sources);
      if (sources.length === 0) throw new BraidError(ErrorCode.BAD_ARGUMENT, 'no sources to archive', { hint: `define sources in ${config.sources.dir} or under sources: in the config file` });
      const logger = loggerFor(config, 'archive');
      const registry = createMetricsRegistry('archive');
      const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
      // Listen for signals before starting, so a signal during start-up still ends in a clean stop.
      let stopRequested!: () => void;
      const stopping = new Promise<void>((resolve) => (stopRequested = resolve));
      const remove = onShutdownSignal((signal) => {
        say(`${signal}: writing what is buffered and leaving the group…`);
        stopRequested();
      });
      say(`archive: ${sources.map((source) => source.name).join(', ')} → ${config.dataDir}/master; metrics on ${metrics.url}`);
      const archivers: Archiver[] = [];
      try {
        for (const source of sources) archivers.push(await Archiver.start({ config, source, logger, registry, views: catalog.views.forSource(source.name) }));
        await stopping;
      } finally {
        // Also when a start failed: what did start flushes and leaves, and nothing keeps the process alive.
        try {
          await Promise.all(archivers.map((archiver) => archiver.stop()));
          if (archivers.length === sources.length) say('archiver stopped cleanly');
        } finally {
          remove();
          await metrics.close();
        }
      }
    });
}
