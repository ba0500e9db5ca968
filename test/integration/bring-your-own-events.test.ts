import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { braidEntryPoint, runBraid, sameAnswer, testEnv, testKafka, testRedis, uniqueName, waitFor, waitUntilSpeedCaughtUp } from '../harness/index.ts';
import { userProject } from '../harness/user-project.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Bring your own events'), readme.indexOf('\n## ', readme.indexOf('## Bring your own events') + 1));

/** The code block right after the first mention of `file` in the section. */
function blockAfter(marker: string, language: string): string {
  const at = section.indexOf(marker);
  expect(at, `${marker} in the README's section`).toBeGreaterThan(-1);
  const start = section.indexOf(`\`\`\`${language}\n`, at);
  return section.slice(start + language.length + 4, section.indexOf('\n```', start) + 1);
}

/** Every `npx braid …` command of the section's shell blocks, in order, as argument lists. */
function commands(): string[][] {
  const lines: string[][] = [];
  for (const match of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of match[1]!.split('\n')) if (line.startsWith('npx braid ')) lines.push(line.slice('npx braid '.length).trim().split(/\s+/));
  }
  return lines;
}

/** The user's module as written in the README; its `../shared/` imports point into this checkout. */
const asUserModule = (code: string) => code.replaceAll("'../shared/", `'${repo}/shared/`);

async function duckDb(sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

interface Answer {
  rows: Array<Record<string, unknown>>;
  meta: { layers: string[]; batchCutoff: string | null; partial: boolean };
}

describe('the README\'s "Bring your own events"', () => {
  it('runs as written: a source with a date field, two views, a Parquet replay, speed, archive, recompute at a cutoff, and every window of the answers equals DuckDB over the file', async () => {
    const clientId = uniqueName('byo');
    const topic = uniqueName('orders');
    await using redis = testRedis();
    const project = userProject({
      'sources/orders.ts': asUserModule(blockAfter('`sources/orders.ts`', 'ts')),
      'views/orders.ts': asUserModule(blockAfter('`views/orders.ts`', 'ts')),
      // The test's own: a topic, consumer groups and Redis keys no other run shares, a short warm-up, prompt archive flushes.
      'braid.config.yaml': `kafka:\n  clientId: ${clientId}\nsources:\n  orders:\n    topic: ${topic}\nviews:\n  includeDemo: false\nspeed:\n  warmUpEvents: 2000\narchive:\n  flushIntervalMs: 1s\n`,
    });
    mkdirSync(path.join(project, 'examples'));
    const data = path.join(project, 'examples', 'orders.parquet');
    copyFileSync(path.join(repo, 'examples', 'orders.parquet'), data);
    const env = testEnv({ BRAID_DATA_DIR: path.join(project, 'data'), BRAID_REDIS_KEY_PREFIX: redis.prefix });
    const braid = async (args: string[]) => {
      const result = await runBraid(args, { cwd: project, env });
      expect(result.code, `npx braid ${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result;
    };
    const config = loadConfig({ cwd: project, env });
    const catalog = await loadCatalog(config);
    const views = catalog.views.forSource('orders');
    expect(views.map((view) => view.name)).toEqual(['orders_hourly', 'orders_daily']);

    // The YAML declaration declares the same source.
    const declared = userProject({ 'braid.config.yaml': `${blockAfter('`braid.config.yaml`', 'yaml')}views:\n  includeDemo: false\n` });
    const fromYaml = JSON.parse((await runBraid(['sources', '--json'], { cwd: declared, env })).stdout) as Array<{ fields: unknown; timeField: string; keyFields: string[] }>;
    expect(fromYaml.map(({ fields, timeField, keyFields }) => ({ fields, timeField, keyFields }))).toEqual([
      { fields: JSON.parse(JSON.stringify(catalog.source('orders').fields)), timeField: 'date', keyFields: ['order_id'] },
    ]);

    const steps = commands();
    expect(steps.map((step) => step[0])).toEqual(['produce', 'produce', 'speed', 'archive', 'recompute', 'query', 'query']);
    const kafka = testKafka();
    const admin = kafka.admin();
    await admin.connect();
    let cutoff = '';
    const answers: Answer[] = [];
    try {
      for (const step of steps) {
        if (step[0] === 'speed' || step[0] === 'archive') {
          // Long-running: started as a user would, stopped with Ctrl-C once it has read the topic.
          const child = spawn(process.execPath, [braidEntryPoint, ...step], { cwd: project, env, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
          const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
          if (step[0] === 'speed') await waitUntilSpeedCaughtUp(kafka, redis, config, topic, views);
          else {
            await waitFor(
              async () => {
                const [committed] = await admin.fetchOffsets({ groupId: `${clientId}-archive.orders`, topics: [topic] });
                return committed!.partitions.reduce((sum, partition) => sum + Math.max(0, Number(partition.offset)), 0) === 12_000;
              },
              { timeoutMs: 90_000, what: 'the archiver to read the topic' },
            );
          }
          child.kill('SIGINT');
          expect(await exited, stderr).toBe(0);
          continue;
        }
        if (step[0] === 'query') {
          const args = [...step.filter((arg, index) => arg !== '--format' && step[index - 1] !== '--format'), '--format', 'json'];
          answers.push(JSON.parse((await braid(args)).stdout) as Answer);
          // And the whole range, every dimension value.
          if (args.includes('--where')) answers.push(JSON.parse((await braid(args.filter((arg, index) => arg !== '--where' && args[index - 1] !== '--where'))).stdout) as Answer);
          continue;
        }
        const { stdout } = await braid(step);
        if (step.includes('--dry-run')) expect(stdout).toMatch(/12,000 rows read, 12,000 valid, 0 bad \(dry run: nothing sent\)/);
        if (step[0] === 'recompute') cutoff = step[step.indexOf('--cutoff') + 1]!;
      }
    } finally {
      await admin.disconnect();
    }

    expect(cutoff).toBe('2026-11-07T05:00:00Z');
    for (const answer of answers) {
      expect(answer.meta.layers).toEqual(['batch', 'speed']);
      expect(answer.meta.batchCutoff).toBe('2026-11-07T05:00:00.000Z');
    }
    const [usHourly, hourly, weekly] = answers as [Answer, Answer, Answer];
    const file = `'${data}'`;
    const expectedHourly = await duckDb(
      `SELECT epoch_ms(date) // 3600000 * 3600000 AS windowStart, country, count(*)::INTEGER AS orders, sum(amount)::DOUBLE AS revenue, count(DISTINCT customer_id)::INTEGER AS customers
       FROM ${file} GROUP BY ALL ORDER BY windowStart, country`,
    );
    const compareHourly = (rows: Answer['rows'], expected: Array<Record<string, unknown>>) => {
      expect(rows.length).toBe(expected.length);
      for (const [index, row] of rows.entries()) {
        const want = expected[index]!;
        const what = `${new Date(Number(want.windowStart)).toISOString()} ${String(want.country)}`;
        expect({ windowStart: Date.parse(row.windowStart as string), country: row.country, orders: row.orders }, what).toEqual({ windowStart: Number(want.windowStart), country: want.country, orders: want.orders });
        expect(sameAnswer(row.revenue, want.revenue), `${what} revenue ${String(row.revenue)} vs ${String(want.revenue)}`).toBe(true);
        // Redis's HyperLogLog: exact for this few, within its error bound in general.
        expect(Math.abs((row.customers as number) - (want.customers as number)), what).toBeLessThanOrEqual(Math.max(1, 0.03 * (want.customers as number)));
      }
    };
    compareHourly(usHourly.rows, expectedHourly.filter((row) => row.country === 'US'));
    compareHourly(hourly.rows, expectedHourly);

    // Days in New York (one of 25 hours), rolled up to ISO weeks in New York: DuckDB's date_trunc in that zone.
    const expectedWeeks = await duckDb(
      `SELECT epoch_ms(timezone('America/New_York', date_trunc('week', timezone('America/New_York', date)))) AS windowStart,
              count(*)::INTEGER AS orders, sum(amount)::DOUBLE AS revenue, avg(amount)::DOUBLE AS basket
       FROM ${file} GROUP BY ALL ORDER BY windowStart`,
    );
    expect(weekly.rows.map((row) => ({ windowStart: Date.parse(row.windowStart as string), orders: row.orders }))).toEqual(
      expectedWeeks.map((row) => ({ windowStart: Number(row.windowStart), orders: row.orders })),
    );
    for (const [index, row] of weekly.rows.entries()) {
      expect(sameAnswer(row.revenue, expectedWeeks[index]!.revenue)).toBe(true);
      expect(sameAnswer(row.basket, expectedWeeks[index]!.basket)).toBe(true);
    }
  });
});
