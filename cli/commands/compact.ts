import { Command } from 'commander';
import { compactClosedHours } from '../../batch/index.ts';
import { getSource, sourceNames } from '../../shared/sources/index.ts';
import { configFor, say } from '../context.ts';

export function compactCommand(): Command {
  return new Command('compact')
    .description('merge the small Parquet files of each closed event-time hour of the master dataset into one, atomically')
    .option('--sources <names>', `comma-separated sources (default: all: ${sourceNames().join(', ')})`)
    .action(async (options: { sources?: string }, command: Command) => {
      const config = configFor(command);
      const sources = (options.sources ? options.sources.split(',').map((name) => name.trim()) : sourceNames()).map(getSource);
      for (const source of sources) {
        const results = await compactClosedHours({ config, source });
        for (const result of results) say(`${source.name} ${result.folder}: ${result.filesBefore} files → 1 (${result.flushFiles} flush files covered)`);
        say(`${source.name}: ${results.length} hours compacted`);
      }
    });
}
