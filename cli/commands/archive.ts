import { Command } from 'commander';
import { Archiver } from '../../batch/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { getSource, sourceNames } from '../../shared/sources/index.ts';
import { configFor, say } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

export function archiveCommand(): Command {
  return new Command('archive')
    .description('archive every source topic into the Parquet master dataset (dataDir/master/<source>/date=…/hour=…), exactly once')
    .option('--sources <names>', `comma-separated sources (default: all: ${sourceNames().join(', ')})`)
    .action(async (options: { sources?: string }, command: Command) => {
      const config = configFor(command);
      const sources = (options.sources ? options.sources.split(',').map((name) => name.trim()) : sourceNames()).map(getSource);
      const logger = createLogger({ level: config.log.level, name: 'archive' });
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
      const archivers = await Promise.all(sources.map((source) => Archiver.start({ config, source, logger, registry })));
      await stopping;
      remove();
      try {
        await Promise.all(archivers.map((archiver) => archiver.stop()));
        say('archiver stopped cleanly');
      } finally {
        await metrics.close();
      }
    });
}
