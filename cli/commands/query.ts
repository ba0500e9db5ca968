import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { connectRedis } from '../../shared/clients/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { answerJson, answerTextRows, answerToArrow, answerToCsv, LAYERS, parseViewQuery, queryLimits, ViewReader, writeAnswerParquet } from '../../serving/index.ts';
import { catalogFor, configFor, say } from '../context.ts';

const FORMATS = ['table', 'json', 'csv', 'arrow', 'parquet'] as const;
type Format = (typeof FORMATS)[number];

/** Binary formats go to a file (`arrow` also to standard output when asked by `-o -`); Parquet is written by DuckDB, to a file only. */
function checkOutput(format: Format, output: string | undefined): void {
  const needsFile = format === 'parquet' ? output === undefined || output === '-' : format === 'arrow' && output === undefined;
  if (needsFile) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `--format ${format} writes a binary file: give it with --output <file>${format === 'arrow' ? ' (or -o - for standard output)' : ''}`, {
      fields: { argument: 'output' },
    });
  }
  if (output !== undefined && output !== '-') {
    const folder = path.dirname(path.resolve(output));
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `--output ${output}: the folder ${folder} does not exist`, { fields: { argument: 'output' } });
    }
  }
}

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
    .addOption(new Option('--format <format>', 'output format (arrow: an Arrow IPC stream; parquet: a Parquet file)').choices(FORMATS).default('table'))
    .option('-o, --output <file>', 'write the answer to this file instead of standard output (needed by arrow and parquet; - for standard output)')
    .action(
      async (
        name: string,
        options: { from?: string; to?: string; where: string[]; granularity?: string; timeZone?: string; orderBy?: string; limit?: string; layer?: string; format: Format; output?: string },
        command: Command,
      ) => {
        checkOutput(options.format, options.output);
        const config = configFor(command);
        const view = (await catalogFor(config)).views.get(name);
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
        const redis = await connectRedis(config.redis, { name: 'braid-query' });
        const reader = await ViewReader.open({ config, redis });
        try {
          const answer = await reader.query(query);
          const file = options.output === '-' ? undefined : options.output;
          const emit = (content: string | Uint8Array) => {
            if (file === undefined) process.stdout.write(content);
            else {
              try {
                writeFileSync(file, content);
              } catch (error) {
                throw new BraidError(ErrorCode.BAD_ARGUMENT, `--output ${file}: ${(error as Error).message}`, { cause: error, fields: { argument: 'output' } });
              }
            }
          };
          switch (options.format) {
            case 'json':
              emit(`${JSON.stringify(answerJson(answer), null, 2)}\n`);
              break;
            case 'csv':
              emit(answerToCsv(view, answer));
              break;
            case 'arrow':
              emit(answerToArrow(view, answer));
              break;
            case 'parquet':
              await writeAnswerParquet(view, answer, file!);
              break;
            case 'table': {
              const [head, ...rows] = answerTextRows(view, answer);
              const table = new Table({ head: head!, style: { head: [], border: [] } });
              table.push(...rows);
              emit(`${table.toString()}\n`);
              break;
            }
            default:
              throw new Error(`unknown format: ${String(options.format satisfies never)}`);
          }
          const meta = answer.meta;
          const iso = (ms: number | null) => (ms === null ? 'none' : new Date(ms).toISOString());
          say(
            `${answer.rows.length} rows${meta.truncated ? ' (truncated by --limit)' : ''} from ${meta.layers.join('+') || 'no layer'}; ` +
              `batch v${meta.batchVersion ?? '-'} cutoff ${iso(meta.batchCutoffMs)}; speed watermark ${iso(meta.speedWatermarkMs)}` +
              (meta.partial ? `; PARTIAL, missing ${meta.missing.map((range) => `[${iso(range.fromMs)}, ${iso(range.toMs)})`).join(', ')}` : '') +
              (file === undefined ? '' : `; wrote ${options.format} to ${file}`),
          );
        } finally {
          await reader.close();
          redis.disconnect();
        }
      },
    );
}
