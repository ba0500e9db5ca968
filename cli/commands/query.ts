import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { createRedisClient } from '../../shared/clients/index.ts';
import { answerJson, LAYERS, parseViewQuery, queryLimits, ViewReader } from '../../serving/index.ts';
import { configFor, say, viewsFor } from '../context.ts';

export function queryCommand(): Command {
  return new Command('query')
    .description('answer a view over a time range the way the API does (same code path), from the merged braid or one layer alone')
    .argument('<view>', 'the view, e.g. page_views')
    .option('--from <time>', 'windows starting at or after this: ISO-8601, epoch ms, now or now-<duration> (default: one hour before --to)')
    .option('--to <time>', 'windows starting before this (default: now)')
    .option('--where <dimension=value>', 'filter on a dimension; repeat it, or give several values comma-separated', (text: string, all: string[]) => [...all, text], [] as string[])
    .option('--granularity <duration>', "row width: the view's window (default), a multiple of it, e.g. 1h, or a calendar unit 1d, 1w (ISO week), 1mo, 1q, 1y")
    .option('--time-zone <zone>', "IANA time zone of calendar granularities, e.g. America/New_York (default: the view's own, else UTC)")
    .option('--order-by <field[:desc]>', 'windowStart (default) or a measure, optionally :desc')
    .option('--limit <rows>', 'at most this many rows (default: serving.limits.maxRows)')
    .addOption(new Option('--layer <layer>', 'merged (default), or one layer alone for debugging').choices(LAYERS))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .action(async (name: string, options: { from?: string; to?: string; where: string[]; granularity?: string; timeZone?: string; orderBy?: string; limit?: string; layer?: string; format: string }, command: Command) => {
      const config = configFor(command);
      const view = (await viewsFor(config)).get(name);
      const where: Record<string, string[]> = {};
      for (const clause of options.where) {
        const cut = clause.indexOf('=');
        const dimension = cut > 0 ? clause.slice(0, cut) : clause;
        (where[dimension] ??= []).push(...(cut > 0 ? clause.slice(cut + 1).split(',') : []));
      }
      const query = parseViewQuery(
        view,
        { from: options.from, to: options.to, where, granularity: options.granularity, timeZone: options.timeZone, orderBy: options.orderBy, limit: options.limit, layer: options.layer },
        queryLimits(config),
      );
      const redis = createRedisClient(config.redis.url, { name: 'braid-query' });
      const reader = await ViewReader.open({ config, redis });
      try {
        const answer = await reader.query(query);
        const json = answerJson(answer);
        const rows = json.rows as Array<Record<string, unknown>>;
        const columns = ['windowStart', 'windowEnd', ...view.dimensions.map((d) => d.name), ...view.measures.map((m) => m.name)];
        const cell = (value: unknown) => (value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));
        if (options.format === 'json') {
          process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
        } else if (options.format === 'csv') {
          process.stdout.write(stringify([columns, ...rows.map((row) => columns.map((column) => cell(row[column])))]));
        } else {
          const table = new Table({ head: columns, style: { head: [], border: [] } });
          for (const row of rows) table.push(columns.map((column) => cell(row[column])));
          process.stdout.write(`${table.toString()}\n`);
        }
        const meta = answer.meta;
        const iso = (ms: number | null) => (ms === null ? 'none' : new Date(ms).toISOString());
        say(
          `${rows.length} rows${meta.truncated ? ' (truncated by --limit)' : ''} from ${meta.layers.join('+') || 'no layer'}; ` +
            `batch v${meta.batchVersion ?? '-'} cutoff ${iso(meta.batchCutoffMs)}; speed watermark ${iso(meta.speedWatermarkMs)}` +
            (meta.partial ? `; PARTIAL, missing ${meta.missing.map((range) => `[${iso(range.fromMs)}, ${iso(range.toMs)})`).join(', ')}` : ''),
        );
      } finally {
        await reader.close();
        redis.disconnect();
      }
    });
}
