import { Command } from 'commander';
import { compactMasterDataset, filesToRead, listMasterFiles } from '../../batch/index.ts';
import { catalogFor, configFor, say } from '../context.ts';

export function compactCommand(): Command {
  return new Command('compact')
    .description('merge the small Parquet files of the master dataset, atomically: a closed event-time day into one file, an open day\'s finished flush files into a few')
    .option('--sources <names>', 'comma-separated sources (default: all; `npx braid sources` lists them)')
    .action(async (options: { sources?: string }, command: Command) => {
      const config = configFor(command);
      const sources = (await catalogFor(config)).sourcesNamed(options.sources);
      for (const source of sources) {
        const results = await compactMasterDataset({ config, source });
        for (const result of results) {
          say(`${source.name} ${result.folder}${result.dayClosed ? '' : ' (open day)'}: ${result.filesBefore} files → 1 (${result.flushFiles} flush files held)`);
        }
        const { files } = listMasterFiles(config.dataDir, source.name);
        say(`${source.name}: ${results.length} merges; the master dataset now holds ${filesToRead(files).length} files`);
      }
    });
}
