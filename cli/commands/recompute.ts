import { Command } from 'commander';
import { currentVersion, listVersions, recomputeView } from '../../batch/index.ts';
import { instant } from '../arguments.ts';
import { configFor, say, catalogFor } from '../context.ts';

export function recomputeCommand(): Command {
  return new Command('recompute')
    .description('recompute views from the Parquet master dataset with DuckDB and publish each as a new version')
    .argument('[views...]', 'views to recompute (default: all)')
    .option(
      '--cutoff <time>',
      'windows ending at or before this are computed (ISO-8601, epoch ms, now, now-<duration>); default: the latest safely complete window end in the master dataset',
      instant('--cutoff'),
    )
    .option('--incremental', 'recompute only windows touching the event times of master files new since the current version (full when the definition changed or for session views)')
    .action(async (names: string[], options: { cutoff?: number; incremental?: boolean }, command: Command) => {
      const config = configFor(command);
      const registry = (await catalogFor(config)).views;
      const views = names.length > 0 ? names.map((name) => registry.get(name)) : [...registry.views.values()];
      for (const view of views) {
        say(`recompute ${view.name}…`);
        const manifest = await recomputeView({
          config,
          view,
          ...(options.cutoff === undefined ? {} : { cutoffMs: options.cutoff }),
          ...(options.incremental ? { incremental: true } : {}),
        });
        say(
          `  published ${view.name} v${manifest.version}: ${manifest.rowCount} rows, cutoff ${new Date(manifest.cutoffMs).toISOString()}, ` +
            `${manifest.inputs.length} input files, ${manifest.durationMs} ms, ${manifest.mode}` +
            (manifest.fullBecause
              ? ` (${manifest.fullBecause})`
              : manifest.recomputedRanges
                ? ` (windows recomputed over ${manifest.recomputedRanges.map((range) => `${range.from}–${range.to}`).join(', ')})`
                : ''),
        );
      }
    });
}

export function versionsCommand(): Command {
  return new Command('versions')
    .description('list the published versions of a batch view, with cutoffs and row counts')
    .argument('<view>', 'the view')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const config = configFor(command);
      const view = ((await catalogFor(config)).views).get(name);
      const versions = listVersions(config.dataDir, view.name);
      const current = currentVersion(config.dataDir, view.name);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ current, versions }, null, 2)}\n`);
        return;
      }
      if (versions.length === 0) {
        say(`${view.name} has no published version yet; run \`npx braid recompute ${view.name}\``);
        return;
      }
      process.stdout.write(`${'version'.padEnd(9)}${'cutoff'.padEnd(26)}${'rows'.padStart(10)}  ${'created'.padEnd(26)}definition\n`);
      for (const manifest of versions) {
        const marker = manifest.version === current ? '*' : ' ';
        process.stdout.write(
          `${`${marker}v${manifest.version}`.padEnd(9)}${new Date(manifest.cutoffMs).toISOString().padEnd(26)}${String(manifest.rowCount).padStart(10)}  ${manifest.createdAt.padEnd(26)}${manifest.definitionHash}\n`,
        );
      }
    });
}
