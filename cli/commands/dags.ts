import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import type { Config } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { formatDurationMs } from '../../shared/time/index.ts';
import {
  planBackfill,
  REPROCESS_MODES,
  runBackfill,
  WorkflowAdmin,
  type BackfillPlan,
  type BackfillProgress,
  type ReprocessMode,
  type RunSummary,
} from '../../workflows/index.ts';
import { instant, wholeNumber } from '../arguments.ts';
import { configFor, say } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';
import { workflowsFor } from './workflow-processes.ts';

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

/** `2026-12-07T14:00:00Z`: to the second, UTC. */
const at = (timeMs: number | null): string => (timeMs === null ? '—' : new Date(timeMs).toISOString().replace(/\.\d{3}Z$/, 'Z'));
const took = (durationMs: number | null): string => (durationMs === null ? '—' : durationMs < 1_000 ? `${durationMs} ms` : formatDurationMs(Math.round(durationMs / 100) * 100));
const intervalText = (interval: { startMs: number; endMs: number }) => `${at(interval.startMs)} → ${at(interval.endMs)}`;


/** Opens the workflow admin of a command's config, runs `work` with it, and closes it. */
async function withAdmin<T>(command: Command, work: (admin: WorkflowAdmin, config: Config) => Promise<T>): Promise<T> {
  const config = configFor(command);
  const admin = WorkflowAdmin.open(config, await workflowsFor(config));
  try {
    return await work(admin, config);
  } finally {
    await admin.close();
  }
}

/** Warns when no worker takes one of the pools a workflow's tasks need: its runs would wait. */
async function warnWithoutWorkers(admin: WorkflowAdmin, name: string): Promise<void> {
  const pools = [...new Set(admin.entry(name).workflow.tasks.map((task) => task.pool))];
  const idle: string[] = [];
  for (const pool of pools) if ((await admin.workersOf(pool)) === 0) idle.push(pool);
  if (idle.length > 0) say(`note: no worker takes pool ${idle.join(', ')} now; runs wait until one starts (npx braid worker, or npm start)`);
}

/** Its duration, or for a run still going, how long it has gone so far. */
const durationOfRun = (run: RunSummary) => run.durationMs ?? (run.startedAtMs !== null ? Date.now() - run.startedAtMs : null);

export function dagsCommand(): Command {
  return new Command('dags')
    .description('list the workflows: schedule, next run, last run and its state, active runs, paused')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) =>
      withAdmin(command, async (admin) => {
        const workflows = await admin.list();
        if (options.json) return printJson(workflows);
        if (workflows.length === 0) return print('no workflows: define them in workflows.dir (see docs/workflows.md)');
        const table = new Table({ head: ['workflow', 'schedule', 'next run', 'last run', 'state', 'active', 'tasks'], style: { head: [], border: [] } });
        for (const workflow of workflows) {
          table.push([
            workflow.paused ? `${workflow.name} (paused)` : workflow.name,
            workflow.schedule ? `${workflow.schedule}${workflow.timeZone === 'UTC' ? '' : ` ${workflow.timeZone}`}` : 'triggered only',
            at(workflow.nextRunAtMs),
            workflow.lastRun?.id ?? '—',
            workflow.lastRun?.state ?? '—',
            workflow.activeRuns,
            workflow.tasks,
          ]);
        }
        print(table.toString());
      }),
    );
}

export function dagCommand(): Command {
  const dag = new Command('dag').description('look at, trigger, retry, pause and backfill a workflow and its runs');

  dag
    .command('show')
    .description("a workflow's tasks and edges, in dependency order")
    .argument('<workflow>')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) =>
      withAdmin(command, async (admin) => {
        const detail = await admin.show(name);
        if (options.json) return printJson(detail);
        print(`${detail.name}${detail.description ? `: ${detail.description}` : ''}`);
        print(`  schedule ${detail.schedule ?? 'none (triggered only)'}${detail.schedule ? ` in ${detail.timeZone}` : ''}; catchup ${detail.catchup ? 'on' : 'off'}; at most ${detail.maxActiveRuns} active runs${detail.paused ? '; paused' : ''}`);
        print(`  defined in ${detail.file ?? "Braid (the batch layer's own recompute)"}`);
        print('tasks:');
        for (const task of detail.taskList) {
          const settings = [task.trigger === 'all_success' ? '' : task.trigger, task.pool === 'default' ? '' : `pool ${task.pool}`, task.retries > 0 ? `${task.retries} retries` : '', `timeout ${formatDurationMs(task.timeoutMs)}`].filter(Boolean);
          print(`  ${task.id}: ${task.runs}  (${settings.join(', ')})`);
        }
        print('edges:');
        const edges = detail.taskList.flatMap((task) => task.downstream.map((down) => `  ${task.id} → ${down}`));
        print(edges.length > 0 ? edges.join('\n') : '  none');
      }),
    );

  dag
    .command('trigger')
    .description("create a run now: of the schedule's interval starting at --interval-start, or its newest complete one (a workflow without a schedule takes any interval)")
    .argument('<workflow>')
    .option('--interval-start <time>', 'the interval to run: ISO-8601, epoch ms, now or now-<duration>', instant('--interval-start'))
    .option('--interval-end <time>', "the interval's end, for a workflow without a schedule", instant('--interval-end'))
    .option('--wait', 'wait for the run to finish and show it; exit non-zero if it failed')
    .action(async (name: string, options: { intervalStart?: number; intervalEnd?: number; wait?: boolean }, command: Command) =>
      withAdmin(command, async (admin) => {
        const { runId, state } = await admin.trigger(name, {
          ...(options.intervalStart !== undefined ? { intervalStartMs: options.intervalStart } : {}),
          ...(options.intervalEnd !== undefined ? { intervalEndMs: options.intervalEnd } : {}),
        });
        print(`${runId} ${state}`);
        await warnWithoutWorkers(admin, name);
        if (options.wait) await waitAndShow(admin, runId);
      }),
    );

  dag
    .command('runs')
    .description("a workflow's runs, newest interval first: state, interval, duration, attempts")
    .argument('<workflow>')
    .option('--limit <n>', 'how many runs', wholeNumber('--limit', 1, 1_000), 20)
    .option('--json', 'print JSON')
    .action(async (name: string, options: { limit: number; json?: boolean }, command: Command) =>
      withAdmin(command, async (admin) => {
        const runs = await admin.runs(name, options.limit);
        if (options.json) return printJson(runs);
        if (runs.length === 0) return print(`no runs of ${name} yet (npx braid dag trigger ${name} starts one)`);
        const table = new Table({ head: ['run', 'interval', 'trigger', 'state', 'duration', 'attempts', 'tasks ok / failed / all'], style: { head: [], border: [] } });
        for (const run of runs) {
          const ok = run.tasks.filter((task) => task.state === 'success' || task.state === 'skipped').length;
          const failed = run.tasks.filter((task) => task.state === 'failed' || task.state === 'upstream_failed').length;
          table.push([run.id, intervalText(run.interval), run.trigger, run.state, took(durationOfRun(run)), run.attempts, `${ok} / ${failed} / ${run.tasks.length}`]);
        }
        print(table.toString());
      }),
    );

  dag
    .command('run')
    .description('one run, per task: state, timings, attempts, result, error and the tail of its log')
    .argument('<run-id>')
    .option('--log-tail <n>', 'log lines per task', wholeNumber('--log-tail', 1, 10_000), 10)
    .option('--json', 'print JSON')
    .action(async (runId: string, options: { logTail: number; json?: boolean }, command: Command) =>
      withAdmin(command, async (admin) => {
        const run = await admin.run(runId, options.logTail);
        if (options.json) return printJson(run);
        printRun(run);
      }),
    );

  dag
    .command('retry')
    .description('run a finished run again: every task, or with --failed-only its failed tasks and those that could not run for them')
    .argument('<run-id>')
    .option('--failed-only', 'only the failed tasks and those downstream of them')
    .option('--wait', 'wait for the run to finish and show it; exit non-zero if it failed')
    .action(async (runId: string, options: { failedOnly?: boolean; wait?: boolean }, command: Command) =>
      withAdmin(command, async (admin) => {
        const { state } = await admin.retry(runId, { failedOnly: options.failedOnly ?? false });
        print(`${runId} ${state}`);
        if (options.wait) await waitAndShow(admin, runId);
      }),
    );

  for (const [verb, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const) {
    dag
      .command(verb)
      .description(paused ? 'stop creating scheduled runs of a workflow (runs in flight go on; triggers and backfills still work)' : 'create scheduled runs again (with catchup, the missed intervals too)')
      .argument('<workflow>')
      .action(async (name: string, _options: unknown, command: Command) =>
        withAdmin(command, async (admin) => {
          await admin.setPaused(name, paused);
          print(`${name} ${paused ? 'paused' : 'unpaused'}`);
        }),
      );
  }

  dag
    .command('backfill')
    .description('run a workflow once per interval of its schedule in [--from, --to): N runs active, the next starting the moment one finishes; Ctrl-C stops starting runs, and the same command resumes')
    .argument('<workflow>')
    .requiredOption('--from <time>', 'first interval starts at or after this: ISO-8601, epoch ms, now or now-<duration>', instant('--from'))
    .requiredOption('--to <time>', 'last interval ends at or before this', instant('--to'))
    .addOption(new Option('--reprocess <mode>', 'finished runs to run again: none, failed or all').choices(REPROCESS_MODES).default('none'))
    .option('--max-active <n>', 'runs active at once', wholeNumber('--max-active', 1, 1_000), 4)
    .option('--reverse', 'newest interval first')
    .option('--dry-run', 'show what would run, run nothing')
    .action(async (name: string, options: { from: number; to: number; reprocess: ReprocessMode; maxActive: number; reverse?: boolean; dryRun?: boolean }, command: Command) =>
      withAdmin(command, async (admin, config) => {
        const plan = await planBackfill(admin, name, { fromMs: options.from, toMs: options.to, reprocess: options.reprocess, reverse: options.reverse ?? false });
        const counts = countActions(plan);
        say(`backfill ${name}: ${plan.items.length} intervals (${intervalText({ startMs: plan.items.at(0)!.interval.startMs, endMs: plan.items.at(-1)!.interval.endMs })}): ${counts}`);
        if (options.dryRun) return printPlan(plan);
        await warnWithoutWorkers(admin, name);
        const stop = new AbortController();
        const remove = onShutdownSignal((signal) => {
          say(`\n${signal}: starting no more runs; those started go on`);
          stop.abort();
        });
        const bar = progressBar(name);
        bar.start(plan.items.length, 0, barPayload({ total: plan.items.length, succeeded: 0, failed: 0, active: 0, skipped: 0, etaMs: null }));
        try {
          const result = await runBackfill(admin, plan, {
            maxActive: options.maxActive,
            signal: stop.signal,
            retentionMs: config.workflows.retentionMs,
            onProgress: (progress) => bar.update(progress.succeeded + progress.failed + progress.skipped, barPayload(progress)),
          });
          bar.stop();
          say(`backfill ${name}: ${result.succeeded} succeeded, ${result.failed} failed, ${result.skipped} skipped, in ${took(result.elapsedMs)}`);
          for (const runId of result.failedRuns) say(`  failed: ${runId} (npx braid dag run ${runId})`);
          if (result.interrupted) {
            say(`interrupted with ${result.active} runs active and ${plan.items.length - result.succeeded - result.failed - result.skipped - result.active} not started: the same command resumes`);
            process.exitCode = 130;
          } else if (result.failed > 0) process.exitCode = 1;
        } finally {
          bar.stop();
          remove();
        }
      }),
    );
  return dag;
}

function progressBar(name: string): SingleBar {
  return new SingleBar({
    format: `backfill ${name} |{bar}| {value}/{total} runs | ok {succeeded} | failed {failed} | active {active} | skipped {skipped} | ETA {left}`,
    noTTYOutput: true,
    notTTYSchedule: 2_000,
    stream: process.stderr,
    hideCursor: true,
  });
}

const barPayload = (progress: BackfillProgress) => ({ ...progress, left: progress.etaMs === null ? '…' : took(progress.etaMs) });

function countActions(plan: BackfillPlan): string {
  const count = (action: string) => plan.items.filter((item) => item.action === action).length;
  return `${count('create')} to create, ${count('rerun')} to run again, ${count('wait')} in flight, ${count('skip')} to skip`;
}

function printPlan(plan: BackfillPlan): void {
  const table = new Table({ head: ['run', 'interval', 'now', 'backfill'], style: { head: [], border: [] } });
  for (const item of plan.items) table.push([item.runId, intervalText(item.interval), item.existing ?? '—', item.reason ? `${item.action}: ${item.reason}` : item.action]);
  print(table.toString());
}

async function waitAndShow(admin: WorkflowAdmin, runId: string): Promise<void> {
  for (;;) {
    const run = await admin.store.getRun(runId);
    if (!run) throw new BraidError(ErrorCode.NOT_FOUND, `run ${runId} is gone (removed after workflows.retentionMs)`, { fields: { run: runId } });
    if (run.state === 'success' || run.state === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const run = await admin.run(runId);
  printRun(run);
  if (run.state === 'failed') process.exitCode = 1;
}

function printRun(run: Awaited<ReturnType<WorkflowAdmin['run']>>): void {
  print(`${run.id}: ${run.state}  (workflow ${run.workflow}, interval ${intervalText(run.interval)}, ${run.trigger}, took ${took(run.durationMs)})`);
  for (const task of run.tasks) {
    const attempts = task.attempt > 1 ? `, ${task.attempt} attempts` : '';
    print(`  ${task.id}: ${task.state}  (started ${at(task.startedAtMs)}, took ${took(task.durationMs)}${attempts}${task.worker ? `, on ${task.worker}` : ''})`);
    if (task.result !== null) print(`    result: ${JSON.stringify(task.result)}`);
    if (task.error) print(`    error: ${task.error}`);
    for (const line of task.log) print(`    | ${line}`);
  }
}
