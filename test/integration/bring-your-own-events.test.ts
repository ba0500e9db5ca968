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
const sectionOf = (heading: string) => readme.slice(readme.indexOf(heading), readme.indexOf('\n## ', readme.indexOf(heading) + 1));
const section = sectionOf('## Bring your own events');
const workflowsSection = sectionOf('## Workflows');

/** The code block right after the first mention of `marker` in the section. */
function blockAfter(marker: string, language: string, within = section): string {
  const at = within.indexOf(marker);
  expect(at, `${marker} in the README's section`).toBeGreaterThan(-1);
  const start = within.indexOf(`\`\`\`${language}\n`, at);
  return within.slice(start + language.length + 4, within.indexOf('\n```', start) + 1);
}

/** Every `npx braid …` command of the section's shell blocks, in order, as argument lists. */
function commands(within = section): string[][] {
  const lines: string[][] = [];
  for (const match of within.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of match[1]!.split('\n')) if (line.startsWith('npx braid ')) lines.push(line.slice('npx braid '.length).trim().split(/\s+/));
  }
  return lines;
}

/** The user's module as written in the README; its `../shared/` and `../workflows/` imports point into this checkout. */
const asUserModule = (code: string) => code.replaceAll("'../shared/", `'${repo}/shared/`).replaceAll("'../workflows/", `'${repo}/workflows/`);

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
  it('runs as written: a source with a date field, two views, a Parquet replay, speed, archive, recompute at a cutoff, every window of the answers equal to DuckDB over the file; then the README workflow: trigger, backfill, runs', async () => {
    const clientId = uniqueName('byo');
    const topic = uniqueName('orders');
    await using redis = testRedis();
    const project = userProject({
      'sources/orders.ts': asUserModule(blockAfter('`sources/orders.ts`', 'ts')),
      'views/orders.ts': asUserModule(blockAfter('`views/orders.ts`', 'ts')),
      'dags/shop_daily.ts': asUserModule(blockAfter('A team', 'ts', workflowsSection)),
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

    // The README's workflow: a worker as a user starts it, then the section's commands as written.
    const workflowSteps = commands(workflowsSection);
    expect(workflowSteps.map((step) => step.slice(0, 2).join(' '))).toEqual(['dags', 'dag trigger', 'dag backfill', 'dag runs']);
    const worker = spawn(process.execPath, [braidEntryPoint, 'worker'], { cwd: project, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let workerLog = '';
    worker.stderr.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    const workerExited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
    const outputs: string[] = [];
    try {
      await waitFor(() => /worker .*: 4 at once/.test(workerLog), { timeoutMs: 60_000, what: 'the worker to start' });
      for (const step of workflowSteps) {
        const result = await braid(step);
        outputs.push(result.stdout + result.stderr);
        if (step[1] !== 'trigger') continue;
        // The triggered day, 02:00 to 02:00 New York time: its revenue dataset equals DuckDB over the file.
        const [startMs, endMs] = [Date.parse('2026-11-02T07:00:00Z'), Date.parse('2026-11-03T07:00:00Z')];
        const published = await duckDb(`SELECT country, orders::INTEGER AS orders, revenue::DOUBLE AS revenue FROM '${path.join(project, 'data/datasets/daily_revenue/v1/data.parquet')}' ORDER BY country`);
        const expected = await duckDb(
          `SELECT country, count(*)::INTEGER AS orders, sum(amount)::DOUBLE AS revenue FROM ${file} WHERE epoch_ms(date) >= ${startMs} AND epoch_ms(date) < ${endMs} GROUP BY country ORDER BY country`,
        );
        expect(published.map(({ country, orders }) => ({ country, orders }))).toEqual(expected.map(({ country, orders }) => ({ country, orders })));
        expect(published.every((row, index) => sameAnswer(row.revenue, expected[index]!.revenue))).toBe(true);
      }
    } finally {
      worker.kill('SIGINT');
      expect(await workerExited, workerLog).toBe(0);
    }
    const [listed, triggered, backfilled, runs] = outputs as [string, string, string, string];
    expect(listed).toMatch(/shop_daily .*│ 0 2 \* \* \* America\/New_York/);
    expect(triggered).toMatch(/shop_daily.20261102T070000Z: success/);
    expect(triggered).toMatch(/report: success[\s\S]*result: \{"countries":\d+,"coupons":\d+\}/);
    // Nov 1 to Nov 13 New York days: twelve, the triggered one skipped.
    expect(backfilled).toMatch(/12 intervals .*11 to create, 0 to run again, 0 in flight, 1 to skip/);
    expect(backfilled).toContain('11 succeeded, 0 failed, 1 skipped');
    expect(runs.match(/│ success/g)).toHaveLength(12);
    // About 75 s on a quiet machine (a dozen CLI runs and a backfill): room for a busy one.
  }, 240_000);
});
