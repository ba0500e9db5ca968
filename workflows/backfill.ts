import { quietOnReconnect } from '../shared/clients/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { runIdOf, type RunState } from './run-store.ts';
import type { Interval } from './schedule.ts';
import type { WorkflowAdmin } from './workflow-admin.ts';

export const REPROCESS_MODES = ['none', 'failed', 'all'] as const;
/** Which finished runs a backfill runs again: none, the failed ones, or all. */
export type ReprocessMode = (typeof REPROCESS_MODES)[number];

/** What a backfill does with one interval. */
export type BackfillAction = 'create' | 'rerun' | 'wait' | 'skip';

export interface BackfillItem {
  readonly runId: string;
  readonly interval: Interval;
  /** The run's state before the backfill, null when there is none. */
  readonly existing: RunState | null;
  readonly action: BackfillAction;
  /** Why it is skipped or waited on. */
  readonly reason: string;
}

export interface BackfillPlan {
  /** Names the backfill's progress in Redis: the same command again resumes it. */
  readonly id: string;
  readonly workflow: string;
  readonly reprocess: ReprocessMode;
  /** In the order the backfill starts them. */
  readonly items: readonly BackfillItem[];
}

export interface BackfillOptions {
  readonly fromMs: number;
  readonly toMs: number;
  readonly reprocess: ReprocessMode;
  readonly reverse?: boolean;
}

export interface BackfillProgress {
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly active: number;
  readonly skipped: number;
  /** Estimated time left, from the pace of the runs finished so far; null until one has. */
  readonly etaMs: number | null;
}

export interface BackfillResult extends BackfillProgress {
  readonly interrupted: boolean;
  readonly failedRuns: readonly string[];
  readonly elapsedMs: number;
}

/** Large enough that the backfill alone bounds how many of its runs are active. */
const UNBOUNDED_ACTIVE_RUNS = 1_000_000_000;

/**
 * What a backfill of `[fromMs, toMs)` would do with each interval of the workflow's schedule: create the runs that
 * do not exist, run again those the reprocess mode names (unless this backfill already did, before it was
 * interrupted), wait for those in flight, skip the rest.
 */
export async function planBackfill(admin: WorkflowAdmin, name: string, options: BackfillOptions): Promise<BackfillPlan> {
  const { workflow } = admin.entry(name);
  if (!workflow.schedule) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `workflow ${name} has no schedule, so no intervals to backfill`, {
      fields: { workflow: name },
      hint: `npx braid dag trigger ${name} --interval-start … --interval-end … runs it for an interval of your choice`,
    });
  }
  if (!(options.fromMs < options.toMs)) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, '--from must be before --to', { fields: { argument: '--from' } });
  }
  const intervals = workflow.schedule.intervalsBetween(options.fromMs, options.toMs);
  if (intervals.length === 0) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `no complete interval of ${name}'s schedule (${workflow.schedule.expression} in ${workflow.timeZone}) lies within --from … --to`, {
      fields: { argument: '--from' },
    });
  }
  // Named by its intervals, so `--from now-7d` names the same backfill until another interval completes.
  const id = `${name}:${intervals[0]!.startMs}:${intervals.at(-1)!.endMs}:${options.reprocess}`;
  if (options.reverse) intervals.reverse();
  const taken = new Set(await admin.store.redis.smembers(admin.store.keys.backfill(id)));
  const pipeline = admin.store.redis.pipeline();
  for (const interval of intervals) pipeline.hget(admin.store.keys.run(runIdOf(name, interval.startMs)), 'state');
  const states = ((await pipeline.exec()) ?? []).map(([, state]) => (state ?? null) as RunState | null);
  const items = intervals.map((interval, at): BackfillItem => {
    const runId = runIdOf(name, interval.startMs);
    const existing = states[at] ?? null;
    const item = (action: BackfillAction, reason: string) => ({ runId, interval, existing, action, reason });
    if (existing === null) return item('create', '');
    if (existing === 'running' || existing === 'queued') return item('wait', `${existing} already`);
    if (taken.has(runId)) return item('skip', `${existing} in this backfill already`);
    const again = options.reprocess === 'all' || (options.reprocess === 'failed' && existing === 'failed');
    return again ? item('rerun', `was ${existing}`) : item('skip', `${existing} already (--reprocess ${options.reprocess})`);
  });
  return { id, workflow: name, reprocess: options.reprocess, items };
}

/**
 * Runs a backfill plan with at most `maxActive` of its runs active: the next starts the moment one finishes (its
 * state change arrives by pub/sub, with a poll behind it), never waiting for the slowest of a batch. Aborting
 * `signal` stops starting runs (those started go on); the same plan again resumes, not redoing finished runs.
 */
export async function runBackfill(
  admin: WorkflowAdmin,
  plan: BackfillPlan,
  options: { maxActive: number; signal?: AbortSignal; onProgress?: (progress: BackfillProgress) => void; retentionMs: number },
): Promise<BackfillResult> {
  const { workflow } = admin.entry(plan.workflow);
  const store = admin.store;
  // The runs this backfill created or ran again, recorded as it starts them: resumed, it does not start them again.
  const takenKey = store.keys.backfill(plan.id);
  const pending = plan.items.filter((item) => item.action === 'create' || item.action === 'rerun');
  const active = new Set(plan.items.filter((item) => item.action === 'wait').map((item) => item.runId));
  const failedRuns: string[] = [];
  const startedAtMs = Date.now();
  let succeeded = 0;
  let finishedHere = 0;
  const skipped = plan.items.filter((item) => item.action === 'skip').length;

  const progress = (): BackfillProgress => {
    const left = pending.length + active.size;
    const elapsed = Date.now() - startedAtMs;
    return { total: plan.items.length, succeeded, failed: failedRuns.length, active: active.size, skipped, etaMs: finishedHere === 0 ? null : Math.round((elapsed / finishedHere) * left) };
  };
  const report = () => options.onProgress?.(progress());

  const subscriber = quietOnReconnect(store.redis.duplicate());
  let settle!: () => void;
  let fail!: (error: unknown) => void;
  const settled = new Promise<void>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  let launching = Promise.resolve();

  const finish = (runId: string, state: RunState) => {
    if (!active.delete(runId)) return;
    if (state === 'success') succeeded++;
    else failedRuns.push(runId);
    finishedHere++;
    report();
    launch();
  };
  const launch = () => {
    launching = launching
      .then(async () => {
        while (!options.signal?.aborted && active.size < options.maxActive && pending.length > 0) {
          const item = pending.shift()!;
          active.add(item.runId);
          const state = await startRun(item);
          if (state === 'success' || state === 'failed') finish(item.runId, state);
          report();
        }
        // Interrupted, it leaves the runs it started to the workers.
        if (options.signal?.aborted || (active.size === 0 && pending.length === 0)) settle();
      })
      .catch(fail);
  };
  const startRun = async (item: BackfillItem): Promise<RunState> => {
    await store.redis.multi().sadd(takenKey, item.runId).pexpire(takenKey, options.retentionMs).exec();
    if (item.action === 'rerun') {
      let reset;
      try {
        reset = await store.resetRun(item.runId, plan.reprocess === 'failed' ? 'failed' : 'all', UNBOUNDED_ACTIVE_RUNS, 'backfill');
      } catch (error) {
        // Started again by someone else since the plan: wait for it.
        if (error instanceof BraidError && error.code === ErrorCode.BAD_ARGUMENT) return 'running';
        throw error;
      }
      await admin.queues.enqueue(reset.ready);
      return reset.state;
    }
    const created = await store.createRun({ ...workflow, maxActiveRuns: UNBOUNDED_ACTIVE_RUNS }, item.interval, 'backfill');
    if ('notLeader' in created) throw new BraidError(ErrorCode.INTERNAL, 'a backfill run needs no lease');
    await admin.queues.enqueue(created.ready);
    return created.state;
  };
  const poll = async () => {
    for (const runId of [...active]) {
      const state = await store.redis.hget(store.keys.run(runId), 'state');
      if (state === 'success' || state === 'failed') finish(runId, state);
    }
  };

  subscriber.on('message', (_channel: string, message: string) => {
    const event = JSON.parse(message) as { type?: string; runId?: string; state?: string };
    if (event.type === 'run' && event.runId && (event.state === 'success' || event.state === 'failed')) finish(event.runId, event.state);
  });
  const onAbort = () => launch();
  options.signal?.addEventListener('abort', onAbort);
  const poller = setInterval(() => void poll().catch(fail), 1_000);
  try {
    await subscriber.subscribe(store.keys.events());
    // Runs that finished before the subscription took hold.
    await poll();
    report();
    launch();
    await settled;
  } finally {
    clearInterval(poller);
    options.signal?.removeEventListener('abort', onAbort);
    subscriber.disconnect();
  }
  return { ...progress(), interrupted: pending.length + active.size > 0, failedRuns, elapsedMs: Date.now() - startedAtMs };
}
