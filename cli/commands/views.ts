import { Command } from 'commander';
import { describeWindow } from '../../shared/views/index.ts';
import { exprToString } from '../../shared/views/index.ts';
import { formatDurationMs } from '../../shared/time/index.ts';
import { configFor, catalogFor } from '../context.ts';

export function viewsCommand(): Command {
  return new Command('views')
    .description('list the views (demo views and views.dir), with their windows and measures; a view that does not validate fails here')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFor(command);
      const registry = (await catalogFor(config)).views;
      const listed = [...registry.views.values()].map((view) => ({
        name: view.name,
        source: view.source.name,
        window: describeWindow(view.window),
        groupBy: view.dimensions.map((d) => d.name),
        filter: view.filter ? exprToString(view.filter) : null,
        measures: Object.fromEntries(view.measures.map((m) => [m.name, m.measure.describe()])),
        allowedLateness: formatDurationMs(view.allowedLatenessMs),
        retention: formatDurationMs(view.retentionMs),
        definitionHash: view.definitionHash,
      }));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
        return;
      }
      for (const view of listed) {
        process.stdout.write(
          `${view.name}  (${view.source}, ${view.window}${view.groupBy.length ? ` by ${view.groupBy.join(', ')}` : ''}; lateness ${view.allowedLateness}, retention ${view.retention})\n` +
            (view.filter ? `  filter: ${view.filter}\n` : '') +
            Object.entries(view.measures)
              .map(([name, text]) => `  ${name} = ${text}\n`)
              .join(''),
        );
      }
    });
}
