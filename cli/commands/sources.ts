import { Command } from 'commander';
import { sourceSettings } from '../../shared/config/index.ts';
import { formatDurationMs } from '../../shared/time/index.ts';
import { catalogFor, configFor } from '../context.ts';

export function sourcesCommand(): Command {
  return new Command('sources')
    .description('list the sources (the demo, the config file\'s sources: and sources.dir), with their fields, time field, key and topic; a source that does not validate fails here')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFor(command);
      const catalog = await catalogFor(config);
      const listed = [...catalog.sources.values()].map(({ source, origin }) => {
        const settings = sourceSettings(config, source.name);
        return {
          name: source.name,
          description: source.description,
          definedIn: origin,
          topic: settings.topic ?? source.topic,
          partitions: settings.partitions,
          maxOutOfOrderness: formatDurationMs(settings.maxOutOfOrdernessMs),
          timeField: source.timeField,
          keyFields: source.keyFields,
          fields: source.fields,
          views: catalog.views.forSource(source.name).map((view) => view.name),
        };
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
        return;
      }
      if (listed.length === 0) {
        process.stdout.write(`no sources: define them in ${config.sources.dir} or under sources: in the config file\n`);
        return;
      }
      for (const source of listed) {
        process.stdout.write(
          `${source.name}  (topic ${source.topic}, ${source.partitions} partitions; key ${source.keyFields.join(' + ')}; time ${source.timeField}; out-of-orderness ${source.maxOutOfOrderness})\n` +
            `  defined in ${source.definedIn}${source.description ? `: ${source.description}` : ''}\n` +
            Object.entries(source.fields)
              .map(([name, field]) => `  ${name}: ${field.type}${field.type === 'timestampMs' && field.unit === 's' ? ' (epoch seconds)' : ''}${field.nullable ? ', nullable' : ''}${field.description ? ` — ${field.description}` : ''}\n`)
              .join('') +
            `  views: ${source.views.join(', ') || 'none'}\n`,
        );
      }
    });
}
