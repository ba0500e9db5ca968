import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { loadWorkflows, planBackfill, runBackfill, Scheduler, WorkflowAdmin, WorkflowWorker, type BackfillProgress, type WorkflowCatalog } from '../../workflows/index.ts';
import { runBraid, tempDir, testConfig, testEnv, testLogger, waitFor } from '../harness/index.ts';
import { traceLines } from '../harness/workflows.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/workflow-runs', import.meta.url));
const HOUR = 3_600_000;
/** Eight hourly intervals, 00:00 to 08:00 UTC: `flaky_hours` fails those at 00:00 and 04:00 until fixed. */
const DAY = Date.parse('2026-11-02T00:00:00Z');

describe('workflow runs: catchup, backfills, and the dag commands', () => {
  const scratch = tempDir('braid-workflow-runs-');
  const traceFile = path.join(scratch.path, 'trace.txt');
  const config = testConfig({ 'workflows.dir': FIXTURES, 'views.includeDemo': false });
  let workflows: WorkflowCatalog;
  let admin: WorkflowAdmin;
  let worker: WorkflowWorker;

  beforeAll(async () => {
    writeFileSync(traceFile, '');
    process.env.BRAID_TEST_SCRATCH = traceFile;
    workflows = await loadWorkflows(config, await loadCatalog(config));
    admin = WorkflowAdmin.open(config, workflows);
    worker = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('workflow-runs-test'), concurrency: 4 });
  });

  afterAll(async () => {
    await worker?.stop();
    await admin?.close();
    scratch[Symbol.dispose]();
  });

  /** Trace lines `[what, interval start ISO, ms]`. */
  const trace = () => traceLines(traceFile);
  const loads = () => trace().filter(([what]) => what === 'load').map(([, start]) => start!);
  const hourIso = (hour: number) => new Date(DAY + hour * HOUR).toISOString();

  it('catchup: a scheduler back after downtime creates exactly the intervals it missed, at most maxActiveRuns at a time', async () => {
    const minute = 60_000;
    const downSince = Math.floor(Date.now() / minute) * minute - 5 * minute;
    await admin.store.setLastScheduledEnd('every_minute', downSince);
    // The other workflow stays out of it.
    await admin.setPaused('flaky_hours', true);
    const scheduler = await Scheduler.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('catchup-scheduler'), tickMs: 200, reconcileEveryMs: 300 });
    try {
      const runs = await waitFor(
        async () => {
          const all = await admin.runs('every_minute', 100);
          return all.length >= 5 && all.every((run) => run.state === 'success') ? all : undefined;
        },
        { timeoutMs: 60_000, what: 'the missed intervals to run' },
      );
      // Every minute from the downtime on, once, with no gap (a minute that ends meanwhile adds its run too).
      const lastEnd = Math.max(...runs.map((run) => run.interval.endMs));
      const expected = workflows.get('every_minute').workflow.schedule!.intervalsBetween(downSince, lastEnd);
      expect(expected.length).toBeGreaterThanOrEqual(5);
      expect(runs.map((run) => run.interval.startMs).sort()).toEqual(expected.map((interval) => interval.startMs));
      expect(runs.every((run) => run.trigger === 'schedule')).toBe(true);
      // Never more than two runs' ticks at once.
      const events = trace()
        .filter(([what]) => what === 'tick-begin' || what === 'tick-end')
        .map(([what, , ms]) => ({ delta: what === 'tick-begin' ? 1 : -1, ms: Number(ms) }))
        .sort((a, b) => a.ms - b.ms || a.delta - b.delta);
      let running = 0;
      let most = 0;
      for (const event of events) most = Math.max(most, (running += event.delta));
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(2);
    } finally {
      await scheduler.stop();
      await admin.setPaused('every_minute', true);
    }
  });

  it('backfills: one run per interval; reprocess none, failed and all; an interrupted backfill resumes without redoing finished runs', async () => {
    const range = { fromMs: DAY, toMs: DAY + 8 * HOUR };
    const first = await runBackfill(admin, await planBackfill(admin, 'flaky_hours', { ...range, reprocess: 'none' }), { maxActive: 3, retentionMs: HOUR });
    expect(first).toMatchObject({ total: 8, succeeded: 6, failed: 2, interrupted: false });
    expect([...first.failedRuns].sort()).toEqual(['flaky_hours.20261102T000000Z', 'flaky_hours.20261102T040000Z']);
    expect(loads().sort()).toEqual(Array.from({ length: 8 }, (_, hour) => hourIso(hour)));

    // Nothing to do again: every interval has its run.
    const again = await planBackfill(admin, 'flaky_hours', { ...range, reprocess: 'none' });
    expect(again.items.map((item) => item.action)).toEqual(Array(8).fill('skip'));

    // The data is there now: only the failed runs run again, from their failed task.
    writeFileSync(`${traceFile}.fixed`, '');
    writeFileSync(traceFile, '');
    const failedOnly = await runBackfill(admin, await planBackfill(admin, 'flaky_hours', { ...range, reprocess: 'failed' }), { maxActive: 3, retentionMs: HOUR });
    expect(failedOnly).toMatchObject({ succeeded: 2, failed: 0, skipped: 6 });
    expect(loads().sort()).toEqual([hourIso(0), hourIso(4)]);
    expect((await admin.run('flaky_hours.20261102T040000Z')).tasks.map((task) => [task.id, task.state])).toEqual([
      ['load', 'success'],
      ['report', 'success'],
    ]);

    // Everything again, newest first, one at a time; interrupted after three, then resumed.
    writeFileSync(traceFile, '');
    const plan = await planBackfill(admin, 'flaky_hours', { ...range, reprocess: 'all', reverse: true });
    expect(plan.items.map((item) => item.interval.startMs)).toEqual(Array.from({ length: 8 }, (_, at) => DAY + (7 - at) * HOUR));
    const stop = new AbortController();
    const seen: BackfillProgress[] = [];
    const interrupted = await runBackfill(admin, plan, {
      maxActive: 1,
      retentionMs: HOUR,
      signal: stop.signal,
      onProgress: (progress) => {
        seen.push(progress);
        if (progress.succeeded === 3) stop.abort();
      },
    });
    expect(interrupted.interrupted).toBe(true);
    expect(Math.max(...seen.map((progress) => progress.active))).toBe(1);
    const resumedPlan = await planBackfill(admin, 'flaky_hours', { ...range, reprocess: 'all', reverse: true });
    expect(resumedPlan.items.filter((item) => item.action === 'skip').length).toBe(3);
    const resumed = await runBackfill(admin, resumedPlan, { maxActive: 4, retentionMs: HOUR });
    expect(resumed).toMatchObject({ failed: 0, interrupted: false });
    // Each interval loaded exactly once across the interrupted backfill and its resumption.
    expect(loads().sort()).toEqual(Array.from({ length: 8 }, (_, hour) => hourIso(hour)));
    expect((await admin.runs('flaky_hours', 8)).every((run) => run.state === 'success' && run.trigger === 'backfill')).toBe(true);
  });

  it('the dag commands: list, show, trigger, runs, run, retry, pause, backfill with its progress, and clear errors', async () => {
    const configFile = path.join(scratch.path, 'braid.config.yaml');
    writeFileSync(configFile, `workflows:\n  dir: ${FIXTURES}\nviews:\n  includeDemo: false\n`);
    const env = testEnv({ BRAID_REDIS_KEY_PREFIX: config.redis.keyPrefix, REDIS_URL: config.redis.url, BRAID_TEST_SCRATCH: traceFile });
    const braid = (...args: string[]) => runBraid(['--config', configFile, ...args], { env, cwd: scratch.path });

    const listed = await braid('dags', '--json');
    expect(listed.code).toBe(0);
    const byName = Object.fromEntries((JSON.parse(listed.stdout) as Array<{ name: string; paused: boolean; schedule: string | null; lastRun: { state: string } | null }>).map((workflow) => [workflow.name, workflow]));
    expect(byName.flaky_hours).toMatchObject({ schedule: '0 * * * *', lastRun: { state: 'success' } });

    const shown = await braid('dag', 'show', 'flaky_hours');
    expect(shown.stdout).toContain('load → report');
    expect(shown.stdout).toMatch(/report: function/);

    const triggered = await braid('dag', 'trigger', 'flaky_hours', '--interval-start', hourIso(20), '--wait');
    expect(triggered.code, triggered.stderr).toBe(0);
    expect(triggered.stdout).toContain('flaky_hours.20261102T200000Z: success');
    expect(triggered.stdout).toMatch(/result: \{"reported":\{"hour":20\}\}/);

    const run = await braid('dag', 'run', 'flaky_hours.20261102T200000Z');
    expect(run.stdout).toMatch(/\| .*"msg":"succeeded".*"run":"flaky_hours.20261102T200000Z","task":"load","attempt":1/);

    const retried = await braid('dag', 'retry', 'flaky_hours.20261102T200000Z', '--wait');
    expect(retried.code, retried.stderr).toBe(0);
    const rerun = await admin.run('flaky_hours.20261102T200000Z');
    expect(rerun.trigger).toBe('retry');
    // The new try's log only: one start of attempt 1.
    expect(rerun.tasks[0]!.log.filter((line) => line.includes('attempt 1 started'))).toHaveLength(1);

    expect((await braid('dag', 'pause', 'flaky_hours')).stdout).toContain('flaky_hours paused');
    expect((await admin.list()).find((workflow) => workflow.name === 'flaky_hours')).toMatchObject({ paused: true, nextRunAtMs: null });

    const dry = await braid('dag', 'backfill', 'flaky_hours', '--from', hourIso(8), '--to', hourIso(12), '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('4 intervals');
    expect(dry.stdout.match(/create/g)).toHaveLength(4);
    expect(await admin.store.getRun('flaky_hours.20261102T080000Z')).toBeUndefined();

    const backfill = await braid('dag', 'backfill', 'flaky_hours', '--from', hourIso(8), '--to', hourIso(12), '--max-active', '2');
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.stderr).toMatch(/backfill flaky_hours \|.*\| 4\/4 runs \| ok 4 \| failed 0/);
    expect(backfill.stderr).toContain('4 succeeded, 0 failed, 0 skipped');

    const runs = await braid('dag', 'runs', 'flaky_hours', '--limit', '3');
    expect(runs.stdout).toContain('flaky_hours.20261102T200000Z');
    expect(runs.stdout).toContain('flaky_hours.20261102T110000Z');
    expect(runs.stdout).toMatch(/backfill +│ success/);

    // Mistakes: named, no stack trace.
    for (const [args, message] of [
      [['dag', 'show', 'nope'], /unknown workflow "nope"[\s\S]*known workflows: .*flaky_hours/],
      [['dag', 'backfill', 'flaky_hours', '--from', 'yesterday', '--to', 'now'], /--from takes an ISO-8601 time/],
      [['dag', 'backfill', 'flaky_hours', '--from', hourIso(8), '--to', hourIso(8)], /--from must be before --to/],
      [['dag', 'trigger', 'flaky_hours', '--interval-start', '2026-11-02T08:30:00Z'], /not a firing of flaky_hours's schedule/],
      [['dag', 'run', 'flaky_hours.20991231T000000Z'], /no run flaky_hours.20991231T000000Z/],
    ] as const) {
      const failed = await braid(...args);
      expect(failed.code, args.join(' ')).not.toBe(0);
      expect(failed.stderr).toMatch(message);
      expect(failed.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
