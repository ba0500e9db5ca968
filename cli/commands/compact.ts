import { Command } from 'commander';
import { compactClosedHours } from '../../batch/index.ts';
import { catalogFor, configFor, say } from '../context.ts';

export function compactCommand(): Command {
  return new Command('compact')
    .description('merge the small Parquet files of each closed event-time hour of the master dataset into one, atomically')
    .option('--sources <names>', 'comma-separated sources (default: all; `npx braid sources` lists them)')
    .action(async (options: { sources?: string }, command: Command) => {
      const config = configFor(command);
      const sources = (await catalogFor(config)).sourcesNamed(options.sources);
      for (const source of sources) {
        const results = await compactClosedHours({ config, source });
        for (const result of results) say(`${source.name} ${result.folder}: ${result.filesBefore} files → 1 (${result.flushFiles} flush files covered)`);
        say(`${source.name}: ${results.length} hours compacted`);
      }
    });
}
