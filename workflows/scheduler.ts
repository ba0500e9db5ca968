import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import { connectRedis } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { Registry } from '../shared/metrics/index.ts';
import type { WorkflowCatalog, WorkflowEntry } from './load-workflows.ts';
import { RunStore, type ReadyTask } from './run-store.ts';
import type { Interval } from './schedule.ts';
import { TaskQueues } from './task-queues.ts';
import { createWorkflowMetrics, type WorkflowMetrics } from './workflow-metrics.ts';

export interface SchedulerOptions {
  config: Config;
  workflows: WorkflowCatalog;
  logger: Logger;
  registry: Registry;
  /** How often it looks at the clock and renews its lease. Default 1 s. */
  tickMs?: number;
  /** How long a lease lasts unrenewed: a scheduler that dies is replaced after about this long. Default 10 s. */
  leaseMs?: number;
  /** How often it reconciles active runs with the queues. Default 5 s. */
  reconcileEveryMs?: number;
}

/**
 * The scheduler: creates a run per data interval when a workflow's schedule fires (with catchup, every interval
 * missed since its start or its last run), starts queued runs when active ones finish, and reconciles active runs
 * with the queues (ready tasks whose jobs were lost are queued again; running tasks whose worker died are made
 * ready again, their old attempt fenced off). Run several: one holds a Redis lease and acts; a scheduler that
 * lost its lease cannot create runs (its holder string is checked inside the same atomic script), and a run per
 * interval is created once whatever happens.
 *
 * @example
 * const scheduler = await Scheduler.start({ config, workflows, logger, registry });
 * await scheduler.stop();
 */
export class Scheduler {
  readonly instance = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private holder: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private lastReconcileMs = 0;
  private lastPruneMs = 0;
  private stopped = false;
  private readonly log: Logger;
  private readonly metrics: WorkflowMetrics;

  private constructor(
    private readonly options: SchedulerOptions,
    private readonly redis: Redis,
    readonly store: RunStore,
    readonly queues: TaskQueues,
  ) {
    this.log = options.logger.child({ scheduler: this.instance });
    this.metrics = createWorkflowMetrics(options.registry);
  }

  static async start(options: SchedulerOptions): Promise<Scheduler> {
    const redis = await connectRedis(options.config.redis, { name: 'braid-workflow-scheduler' });
    const store = new RunStore(redis, options.config.redis.keyPrefix);
    const scheduler = new Scheduler(options, redis, store, new TaskQueues(options.config, store.keys));
    try {
      await scheduler.queues.applyPoolLimits();
    } catch (error) {
      await scheduler.stop();
      throw error;
    }
    const tick = () => {
      scheduler.ticking = scheduler.ticking
        .then(() => scheduler.tick())
        .catch((error: unknown) => scheduler.log.warn({ err: error }, 'scheduler tick failed; next tick retries'));
    };
    tick();
    scheduler.timer = setInterval(tick, options.tickMs ?? 1_000);
    scheduler.log.info({ workflows: [...options.workflows.workflows.keys()] }, 'scheduler started');
    return scheduler;
  }

  /** Whether this scheduler holds the lease now. */
  get leading(): boolean {
    return this.holder !== null;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const leaseMs = this.options.leaseMs ?? 10_000;
    this.holder = this.holder === null ? await this.store.lease('acquire', this.instance, leaseMs) : await this.store.lease('renew', this.holder, leaseMs);
    this.metrics.leader.set({ instance: this.instance }, this.holder === null ? 0 : 1);
    if (this.holder === null) return;
    const now = Date.now();
    for (const entry of this.options.workflows.workflows.values()) await this.scheduleWorkflow(entry, now);
    if (now - this.lastReconcileMs >= (this.options.reconcileEveryMs ?? 5_000)) {
      this.lastReconcileMs = now;
      for (const entry of this.options.workflows.workflows.values()) await this.reconcile(entry);
      for (const [pool, depth] of Object.entries(await this.queues.depths())) {
        for (const [state, count] of Object.entries(depth)) this.metrics.queueDepth.set({ pool, state }, count);
      }
    }
    if (now - this.lastPruneMs >= 3_600_000) {
      this.lastPruneMs = now;
      for (const name of this.options.workflows.workflows.keys()) await this.store.pruneRuns(name, now - this.options.config.workflows.retentionMs);
    }
  }

  /** Creates the runs of the intervals whose end has passed since the workflow's last scheduled run. */
  private async scheduleWorkflow(entry: WorkflowEntry, now: number): Promise<void> {
    const { workflow } = entry;
    if (!workflow.schedule || this.holder === null) return;
    const state = await this.store.workflowState(workflow.name);
    if (state.paused) return;
    let due: Interval[];
    if (state.lastScheduledEndMs === null) {
      // First sight: from `start` with catchup, else the newest complete interval only.
      due = workflow.catchup && workflow.startMs !== undefined ? workflow.schedule.intervalsBetween(workflow.startMs, now) : [workflow.schedule.latestComplete(now)];
    } else {
      // Without catchup, only the newest complete interval, however long the scheduler was away.
      const newest = workflow.schedule.latestComplete(now);
      due = workflow.catchup ? workflow.schedule.intervalsBetween(state.lastScheduledEndMs, now) : newest.startMs >= state.lastScheduledEndMs ? [newest] : [];
    }
    for (const interval of due) {
      const created = await this.store.createRun(workflow, interval, 'schedule', this.holder);
      if ('notLeader' in created) {
        this.holder = null;
        return;
      }
      if (created.created) {
        this.metrics.runs.inc({ workflow: workflow.name, state: created.state === 'queued' ? 'queued' : 'created' });
        this.log.info({ workflow: workflow.name, run: created.runId, state: created.state }, 'run created');
      }
      await this.queues.enqueue(created.ready);
      await this.store.setLastScheduledEnd(workflow.name, interval.endMs);
    }
  }

  /**
   * Puts active runs and the queues back in agreement: a ready (or waiting-to-retry, or sensing) task gets its job
   * (added once whoever adds it), a running task whose job is gone is made ready again, and queued runs start
   * when there are slots.
   */
  async reconcile(entry: WorkflowEntry): Promise<void> {
    const requeue: ReadyTask[] = [...(await this.store.startQueuedRuns(entry.workflow.name, entry.workflow.maxActiveRuns))];
    for (const runId of await this.store.activeRunIds(entry.workflow.name)) {
      const run = await this.store.getRun(runId);
      if (!run || run.state !== 'running') continue;
      const fields = await this.redis.hgetall(this.store.keys.run(runId));
      for (const task of run.tasks) {
        const pool = entry.workflow.tasks.find((candidate) => candidate.id === task.id)?.pool ?? 'default';
        const seq = Number(fields[`q:${task.id}`] ?? 0);
        if (task.state === 'ready' || task.state === 'retry_wait' || task.state === 'sensing') {
          requeue.push({ runId, task: task.id, seq, pool, readyAtMs: task.readyAtMs ?? 0 });
        } else if (task.state === 'running' && !(await this.queues.jobAlive({ runId, task: task.id, seq, pool }))) {
          const lost = await this.store.requeueLost(runId, task.id, Number(fields[`k:${task.id}`] ?? 0));
          if (lost) {
            this.log.warn({ run: runId, task: task.id }, 'a running task lost its job (its worker died): queued again');
            requeue.push({ ...lost, pool });
          }
        }
      }
    }
    await this.queues.enqueue(requeue);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    if (this.holder) await this.store.lease('release', this.holder, 0).catch(() => undefined);
    this.metrics.leader.set({ instance: this.instance }, 0);
    await this.queues.close();
    this.redis.disconnect();
    this.log.info('scheduler stopped');
  }
}

/**
 * Creates a run now (`npx braid dag trigger`, the HTTP API): for the interval starting at `intervalStartMs`, which
 * must be one of the schedule's firings, or by default the newest complete interval; a workflow without a
 * schedule gets `[intervalStartMs, intervalEndMs)` or, by default, `[now, now)`.
 */
export async function triggerRun(
  store: RunStore,
  queues: TaskQueues,
  entry: WorkflowEntry,
  options: { intervalStartMs?: number; intervalEndMs?: number; trigger?: string; maxActiveRuns?: number; nowMs?: number } = {},
): Promise<{ runId: string; state: string }> {
  const { workflow } = entry;
  const now = options.nowMs ?? Date.now();
  let interval: Interval | undefined;
  if (workflow.schedule) {
    if (options.intervalEndMs !== undefined) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `an interval end is not taken by ${workflow.name}: its schedule (${workflow.schedule.expression}) sets where an interval ends`, {
        fields: { workflow: workflow.name, argument: 'intervalEnd' },
        hint: 'give the interval start only',
      });
    }
    interval = options.intervalStartMs === undefined ? workflow.schedule.latestComplete(now) : workflow.schedule.intervalStartingAt(options.intervalStartMs);
    if (!interval) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `${new Date(options.intervalStartMs!).toISOString()} is not a firing of ${workflow.name}'s schedule (${workflow.schedule.expression} in ${workflow.timeZone})`, {
        fields: { workflow: workflow.name, argument: 'intervalStart' },
        hint: `its intervals start at ${new Date(workflow.schedule.firingAtOrBefore(options.intervalStartMs!)).toISOString()} and ${new Date(workflow.schedule.firingAfter(options.intervalStartMs!)).toISOString()}`,
      });
    }
  } else {
    const startMs = options.intervalStartMs ?? now;
    interval = { startMs, endMs: options.intervalEndMs ?? startMs };
    if (interval.endMs < interval.startMs) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `the interval ends (${new Date(interval.endMs).toISOString()}) before it starts (${new Date(interval.startMs).toISOString()})`, {
        fields: { workflow: workflow.name, argument: 'intervalEnd' },
      });
    }
  }
  const created = await store.createRun({ ...workflow, maxActiveRuns: options.maxActiveRuns ?? workflow.maxActiveRuns }, interval, options.trigger ?? 'manual');
  if ('notLeader' in created) throw new BraidError(ErrorCode.INTERNAL, 'a manual run needs no lease');
  if (!created.created) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `run ${created.runId} exists (${created.state})`, {
      fields: { workflow: workflow.name, run: created.runId },
      hint: `npx braid dag retry ${created.runId} runs it again`,
    });
  }
  await queues.enqueue(created.ready);
  return { runId: created.runId, state: created.state };
}
