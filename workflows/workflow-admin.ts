import { createRedisClient } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { TaskAction, Workflow } from './define-workflow.ts';
import type { WorkflowCatalog, WorkflowEntry } from './load-workflows.ts';
import { RunStore, type RunRecord, type RunState, type TaskRecord } from './run-store.ts';
import { triggerRun } from './scheduler.ts';
import { TaskQueues } from './task-queues.ts';

const durationOf = (start: number | null, end: number | null): number | null => (start !== null && end !== null ? end - start : null);

/** A workflow as `npx braid dags` and `GET /v1/workflows` list it. */
export interface WorkflowSummary {
  readonly name: string;
  readonly description: string;
  readonly schedule: string | null;
  readonly timeZone: string;
  readonly paused: boolean;
  /** When the scheduler creates the next run (the end of the next interval); null when unscheduled or paused. */
  readonly nextRunAtMs: number | null;
  readonly lastRun: { readonly id: string; readonly state: RunState; readonly interval: { startMs: number; endMs: number }; readonly endedAtMs: number | null } | null;
  readonly activeRuns: number;
  readonly tasks: number;
  /** The module defining it; null for Braid's own `recompute`. */
  readonly file: string | null;
}

export interface TaskSummary {
  readonly id: string;
  /** What it runs, in words: `recompute page_views`, `sql → daily_revenue`, `function`. */
  readonly runs: string;
  readonly dependsOn: readonly string[];
  readonly downstream: readonly string[];
  readonly trigger: string;
  readonly pool: string;
  readonly retries: number;
  readonly timeoutMs: number;
}

export interface WorkflowDetail extends WorkflowSummary {
  readonly maxActiveRuns: number;
  readonly catchup: boolean;
  /** In dependency order. */
  readonly taskList: readonly TaskSummary[];
}

export interface TaskDetail extends TaskRecord {
  readonly durationMs: number | null;
  /** The newest log lines of its latest attempt. */
  readonly log: readonly string[];
}

/** A run as the run lists show it: with its duration (once ended), its tasks' attempts and how many tasks are in each state. */
export interface RunSummary extends RunRecord {
  readonly durationMs: number | null;
  /** Attempts of all its tasks (since it was last reset). */
  readonly attempts: number;
  readonly taskStates: Readonly<Partial<Record<TaskRecord['state'], number>>>;
}

export interface RunDetail extends Omit<RunSummary, 'tasks'> {
  readonly tasks: readonly TaskDetail[];
}

export function summarizeRun(run: RunRecord): RunSummary {
  const taskStates: Partial<Record<TaskRecord['state'], number>> = {};
  for (const task of run.tasks) taskStates[task.state] = (taskStates[task.state] ?? 0) + 1;
  return { ...run, durationMs: durationOf(run.startedAtMs, run.endedAtMs), attempts: run.tasks.reduce((sum, task) => sum + task.attempt, 0), taskStates };
}

export function describeAction(action: TaskAction): string {
  switch (action.kind) {
    case 'function':
      return 'function';
    case 'recompute':
      return `recompute ${action.view}`;
    case 'compact':
      return `compact ${action.source}`;
    case 'sql':
      return `sql → ${action.output}`;
    case 'command':
      return `command ${action.argv.join(' ')}`;
    case 'waitForData':
      return `waitForData ${action.source}`;
  }
}


/**
 * What people do with workflows, whether from the CLI or over HTTP: list them, look at one, at its runs and at a
 * run's tasks with their logs, trigger a run, run a finished one again, pause and unpause.
 *
 * @example
 * const admin = WorkflowAdmin.open(config, workflows);
 * const { runId } = await admin.trigger('recompute');
 * await admin.close();
 */
export class WorkflowAdmin {
  private constructor(
    readonly workflows: WorkflowCatalog,
    readonly store: RunStore,
    readonly queues: TaskQueues,
  ) {}

  static open(config: Config, workflows: WorkflowCatalog): WorkflowAdmin {
    const redis = createRedisClient(config.redis, { name: 'braid-workflow-admin' });
    const store = new RunStore(redis, config.redis.keyPrefix);
    return new WorkflowAdmin(workflows, store, new TaskQueues(config, store.keys));
  }

  entry(name: string): WorkflowEntry {
    return this.workflows.get(name);
  }

  async list(nowMs = Date.now()): Promise<WorkflowSummary[]> {
    return Promise.all([...this.workflows.workflows.values()].map((entry) => this.summary(entry, nowMs)));
  }

  async show(name: string, nowMs = Date.now()): Promise<WorkflowDetail> {
    const entry = this.entry(name);
    const { workflow } = entry;
    return {
      ...(await this.summary(entry, nowMs)),
      maxActiveRuns: workflow.maxActiveRuns,
      catchup: workflow.catchup,
      taskList: workflow.tasks.map((task) => ({
        id: task.id,
        runs: describeAction(task.action),
        dependsOn: task.dependsOn,
        downstream: workflow.downstream[task.id] ?? [],
        trigger: task.trigger,
        pool: task.pool,
        retries: task.retries,
        timeoutMs: task.timeoutMs,
      })),
    };
  }

  /** A workflow's runs, newest interval first. */
  async runs(name: string, limit = 20): Promise<RunSummary[]> {
    this.entry(name);
    return (await this.store.listRuns(name, { limit })).map(summarizeRun);
  }

  /** A run with each task's timings, result, error and log tail. */
  async run(runId: string, logTail = 20): Promise<RunDetail> {
    const run = await this.store.getRun(runId);
    if (!run) throw new BraidError(ErrorCode.NOT_FOUND, `no run ${runId}`, { fields: { run: runId }, hint: 'npx braid dag runs <workflow> lists the runs kept' });
    const tasks = await Promise.all(
      run.tasks.map(async (task) => ({
        ...task,
        durationMs: durationOf(task.startedAtMs, task.endedAtMs),
        log: task.attempt > 0 ? await this.store.readLog(runId, task.id, task.attempt, logTail) : [],
      })),
    );
    return { ...summarizeRun(run), tasks };
  }

  /** Creates a run now: of the interval starting at `intervalStartMs`, or the newest complete one. */
  async trigger(name: string, options: { intervalStartMs?: number; intervalEndMs?: number } = {}): Promise<{ runId: string; state: string }> {
    return triggerRun(this.store, this.queues, this.entry(name), { ...options, trigger: 'manual' });
  }

  /** Runs a finished run again: its failed tasks (and those that could not run for them), or every task. */
  async retry(runId: string, options: { failedOnly?: boolean } = {}): Promise<{ runId: string; state: RunState }> {
    const run = await this.store.getRun(runId);
    if (!run) throw new BraidError(ErrorCode.NOT_FOUND, `no run ${runId}`, { fields: { run: runId } });
    const { workflow } = this.entry(run.workflow);
    const reset = await this.store.resetRun(runId, options.failedOnly ? 'failed' : 'all', workflow.maxActiveRuns, 'retry');
    await this.queues.enqueue(reset.ready);
    return { runId, state: reset.state };
  }

  async setPaused(name: string, paused: boolean): Promise<void> {
    this.entry(name);
    await this.store.setPaused(name, paused);
  }

  /** How many workers take tasks of a pool now (BullMQ's registered workers). */
  async workersOf(pool: string): Promise<number> {
    return (await this.queues.queue(pool).getWorkersCount()) as number;
  }

  async close(): Promise<void> {
    await this.queues.close();
    this.store.redis.disconnect();
  }

  private async summary(entry: WorkflowEntry, nowMs: number): Promise<WorkflowSummary> {
    const { workflow } = entry;
    const [state, [last], active] = await Promise.all([this.store.workflowState(workflow.name), this.store.listRuns(workflow.name, { limit: 1 }), this.store.activeRunIds(workflow.name)]);
    return {
      name: workflow.name,
      description: workflow.description,
      schedule: workflow.schedule?.expression ?? null,
      timeZone: workflow.timeZone,
      paused: state.paused,
      nextRunAtMs: state.paused ? null : nextRunAt(workflow, state.lastScheduledEndMs, nowMs),
      lastRun: last ? { id: last.id, state: last.state, interval: last.interval, endedAtMs: last.endedAtMs } : null,
      activeRuns: active.length,
      tasks: workflow.tasks.length,
      file: entry.file ?? null,
    };
  }
}

function nextRunAt(workflow: Workflow, lastScheduledEndMs: number | null, nowMs: number): number | null {
  if (!workflow.schedule) return null;
  return workflow.schedule.firingAfter(Math.max(nowMs, lastScheduledEndMs ?? nowMs));
}
