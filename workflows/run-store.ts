import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { Workflow } from './define-workflow.ts';
import type { Interval } from './schedule.ts';

/** A task's state within a run. */
export const TASK_STATES = ['waiting', 'ready', 'running', 'retry_wait', 'sensing', 'success', 'failed', 'skipped', 'upstream_failed'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const RUN_STATES = ['queued', 'running', 'success', 'failed'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['success', 'failed', 'skipped', 'upstream_failed']);

/** A task made ready: its queue job is `<run>|<task>|<seq>` in the queue of its pool. */
export interface ReadyTask {
  readonly runId: string;
  readonly task: string;
  readonly seq: number;
  readonly pool: string;
  /** Not before this (a retry's backoff, a sensor's next look); 0 = now. */
  readonly readyAtMs: number;
}

export interface TaskRecord {
  readonly id: string;
  readonly state: TaskState;
  readonly attempt: number;
  readonly startedAtMs: number | null;
  readonly endedAtMs: number | null;
  readonly result: unknown;
  readonly error: string | null;
  readonly worker: string | null;
  readonly readyAtMs: number | null;
}

export interface RunRecord {
  readonly id: string;
  readonly workflow: string;
  readonly interval: Interval;
  readonly trigger: string;
  readonly state: RunState;
  readonly createdAtMs: number;
  readonly startedAtMs: number | null;
  readonly endedAtMs: number | null;
  /** In dependency order. */
  readonly tasks: readonly TaskRecord[];
}

/** What a worker gets when it starts an attempt. */
export interface AttemptStart {
  readonly token: number;
  readonly attempt: number;
  /** Upstream finished → this task started, for a first attempt of a task with upstream tasks. */
  readonly handoffMs: number | null;
  readonly firstStartMs: number;
  readonly workflow: string;
  readonly interval: Interval;
  readonly trigger: string;
  readonly upstream: Readonly<Record<string, unknown>>;
}

export type AttemptOutcome = { outcome: 'success'; result: unknown } | { outcome: 'failed'; error: string } | { outcome: 'retry'; error: string; readyAtMs: number } | { outcome: 'poke'; readyAtMs: number; note?: string };

/** All of Braid's workflow keys, built in one place. */
export class WorkflowKeys {
  constructor(readonly prefix: string) {}
  run(runId: string): string {
    return `${this.prefix}wf:run:${runId}`;
  }
  runs(workflow: string): string {
    return `${this.prefix}wf:runs:${workflow}`;
  }
  active(workflow: string): string {
    return `${this.prefix}wf:active:${workflow}`;
  }
  queued(workflow: string): string {
    return `${this.prefix}wf:queued:${workflow}`;
  }
  /** Per workflow: paused, the end of the last scheduled interval. */
  workflow(workflow: string): string {
    return `${this.prefix}wf:workflow:${workflow}`;
  }
  log(runId: string, task: string, attempt: number): string {
    return `${this.prefix}wf:log:${runId}:${task}:${attempt}`;
  }
  lease(): string {
    return `${this.prefix}wf:scheduler:lease`;
  }
  fence(): string {
    return `${this.prefix}wf:scheduler:fence`;
  }
  backfill(id: string): string {
    return `${this.prefix}wf:backfill:${id}`;
  }
  /** Pub/sub: a line per run or task change, for progress and the console. */
  events(): string {
    return `${this.prefix}wf:events`;
  }
  /** Prefix of BullMQ's keys (BullMQ adds `:<queue>:…`). */
  bullPrefix(): string {
    return `${this.prefix}wf-bull`;
  }
}

const GRAPH = readFileSync(new URL('./lua/run-graph.lua', import.meta.url), 'utf8');
const script = (file: string) => `${GRAPH}\n${readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8')}`;
const SCRIPTS = {
  braidWfCreateRun: { numberOfKeys: 5, lua: script('create-run-5.lua') },
  braidWfStartRun: { numberOfKeys: 3, lua: script('start-run-3.lua') },
  braidWfStartAttempt: { numberOfKeys: 1, lua: script('start-attempt-1.lua') },
  braidWfFinishAttempt: { numberOfKeys: 3, lua: script('finish-attempt-3.lua') },
  braidWfRequeueLost: { numberOfKeys: 1, lua: script('requeue-lost-1.lua') },
  braidWfResetRun: { numberOfKeys: 3, lua: script('reset-run-3.lua') },
  braidWfLease: { numberOfKeys: 2, lua: readFileSync(new URL('./lua/lease-2.lua', import.meta.url), 'utf8') },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptRunner = (...args: Array<string | number>) => Promise<unknown>;

/** A run's id: the workflow and its interval's start, `shop_daily.20261107T070000Z` (no `:`, as queue job ids need). */
export function runIdOf(workflow: string, intervalStartMs: number): string {
  return `${workflow}.${new Date(intervalStartMs).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`;
}

/** The queue job id of a ready task. */
export function jobIdOf(ready: { runId: string; task: string; seq: number }): string {
  return `${ready.runId}|${ready.task}|${ready.seq}`;
}

/** The graph a run keeps: each task's upstream and downstream tasks, trigger rule and pool, in dependency order. */
export function dagOf(workflow: Workflow): string {
  const tasks: Record<string, { up: readonly string[]; down: readonly string[]; rule: string; pool: string }> = {};
  for (const task of workflow.tasks) tasks[task.id] = { up: task.dependsOn, down: workflow.downstream[task.id] ?? [], rule: task.trigger, pool: task.pool };
  // cjson encodes an empty Lua table as {}: lists are never empty here, or are read with ipairs either way.
  return JSON.stringify({ tasks, order: workflow.tasks.map((task) => task.id) });
}

function readyTasks(runId: string, flat: unknown[], readyAtMs = 0): ReadyTask[] {
  const ready: ReadyTask[] = [];
  for (let at = 0; at + 2 < flat.length; at += 3) ready.push({ runId, task: String(flat[at]), seq: Number(flat[at + 1]), pool: String(flat[at + 2]), readyAtMs });
  return ready;
}

const numberOrNull = (value: string | undefined): number | null => (value === undefined || value === '' ? null : Number(value));

/**
 * Runs of workflows in Redis: Braid's own DAG state, changed only by the Lua scripts in `lua/`, each one atomic, so
 * fan-in, trigger rules and fencing are exact however many workers and schedulers run. BullMQ only carries the
 * jobs of ready tasks.
 */
export class RunStore {
  readonly keys: WorkflowKeys;
  private readonly scripts: Record<ScriptName, ScriptRunner>;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new WorkflowKeys(prefix);
    for (const [name, definition] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, definition);
    }
    const client = redis as unknown as Record<ScriptName, ScriptRunner>;
    this.scripts = Object.fromEntries(Object.keys(SCRIPTS).map((name) => [name, client[name as ScriptName].bind(redis)])) as Record<ScriptName, ScriptRunner>;
  }

  /**
   * Creates the run of `workflow` for `interval`, once. With `leaseHolder`, only while that holder holds the
   * scheduler's lease. Returns whether it was created, its state and the tasks ready to queue.
   */
  async createRun(
    workflow: Workflow,
    interval: Interval,
    trigger: string,
    leaseHolder = '',
  ): Promise<{ runId: string; created: boolean; state: RunState; ready: ReadyTask[] } | { runId: string; notLeader: true }> {
    const runId = runIdOf(workflow.name, interval.startMs);
    const k = this.keys;
    const reply = (await this.scripts.braidWfCreateRun(
      k.run(runId),
      k.runs(workflow.name),
      k.active(workflow.name),
      k.queued(workflow.name),
      k.lease(),
      runId,
      workflow.name,
      dagOf(workflow),
      interval.startMs,
      interval.endMs,
      trigger,
      workflow.maxActiveRuns,
      leaseHolder,
    )) as unknown[];
    if (Number(reply[0]) === -1) return { runId, notLeader: true };
    const created = Number(reply[0]) === 1;
    if (created) await this.publish({ type: 'run', runId, workflow: workflow.name, state: String(reply[1]) });
    return { runId, created, state: String(reply[1]) as RunState, ready: created ? readyTasks(runId, reply.slice(2)) : [] };
  }

  /** Starts queued runs of a workflow while it has free active slots, oldest interval first. */
  async startQueuedRuns(workflow: string, maxActiveRuns: number): Promise<ReadyTask[]> {
    const ready: ReadyTask[] = [];
    for (const runId of await this.redis.zrange(this.keys.queued(workflow), '0', '-1')) {
      const reply = (await this.scripts.braidWfStartRun(this.keys.run(runId), this.keys.active(workflow), this.keys.queued(workflow), maxActiveRuns)) as unknown[];
      if (Number(reply[0]) !== 1) {
        if ((await this.redis.zcard(this.keys.active(workflow))) >= maxActiveRuns) break;
        continue;
      }
      ready.push(...readyTasks(runId, reply.slice(1)));
      await this.publish({ type: 'run', runId, workflow, state: 'running' });
    }
    return ready;
  }

  async startAttempt(runId: string, task: string, seq: number, worker: string): Promise<AttemptStart | { skipped: string }> {
    const reply = (await this.scripts.braidWfStartAttempt(this.keys.run(runId), task, seq, worker)) as unknown[];
    if (Number(reply[0]) !== 1) return { skipped: String(reply[1]) };
    const upstream: Record<string, unknown> = {};
    for (let at = 9; at + 1 < reply.length; at += 2) upstream[String(reply[at])] = JSON.parse(String(reply[at + 1])) as unknown;
    const handoff = Number(reply[3]);
    return {
      token: Number(reply[1]),
      attempt: Number(reply[2]),
      handoffMs: handoff < 0 ? null : handoff,
      firstStartMs: Number(reply[4]),
      workflow: String(reply[5]),
      interval: { startMs: Number(reply[6]), endMs: Number(reply[7]) },
      trigger: String(reply[8]),
      upstream,
    };
  }

  /**
   * Ends an attempt if `token` is still the task's latest: a stale attempt (its worker was taken for dead and the
   * task started again elsewhere) is refused and changes nothing. The attempt's last log lines (`log`) are
   * appended either way, in the same script, so the log is complete once the end is visible; an accepted end is
   * published on the events channel.
   */
  async finishAttempt(
    runId: string,
    workflow: string,
    task: string,
    token: number,
    ended: AttemptOutcome,
    log?: { attempt: number; lines: readonly string[]; keep: number; retentionMs: number },
  ): Promise<{ accepted: false; reason: string } | { accepted: true; runState: RunState | null; ready: ReadyTask[] }> {
    const payload = ended.outcome === 'success' ? JSON.stringify(ended.result ?? null) : ended.outcome === 'poke' ? '' : ended.error;
    const readyAtMs = ended.outcome === 'retry' || ended.outcome === 'poke' ? ended.readyAtMs : 0;
    const reply = (await this.scripts.braidWfFinishAttempt(
      this.keys.run(runId),
      this.keys.active(workflow),
      this.keys.log(runId, task, log?.attempt ?? 0),
      task,
      token,
      ended.outcome,
      payload,
      readyAtMs,
      this.keys.events(),
      log?.keep ?? 0,
      log?.retentionMs ?? 0,
      ...(log?.lines ?? []),
    )) as unknown[];
    if (Number(reply[0]) !== 1) return { accepted: false, reason: String(reply[1]) };
    const runState = reply[2] === '' ? null : (String(reply[2]) as RunState);
    return { accepted: true, runState, ready: readyTasks(runId, reply.slice(3), readyAtMs) };
  }

  /** A running task whose job vanished: ready again (new sequence) if it is still at `token`. */
  async requeueLost(runId: string, task: string, token: number): Promise<ReadyTask | undefined> {
    const reply = (await this.scripts.braidWfRequeueLost(this.keys.run(runId), task, token)) as unknown[];
    return Number(reply[0]) === 1 ? readyTasks(runId, reply.slice(1))[0] : undefined;
  }

  /** Runs a finished run again: its failed tasks (and those that could not run for them), or all of them. */
  async resetRun(runId: string, which: 'failed' | 'all', maxActiveRuns: number, trigger: string): Promise<{ state: RunState; ready: ReadyTask[] }> {
    const before = await this.getRun(runId);
    if (!before) throw new BraidError(ErrorCode.NOT_FOUND, `no run ${runId}`, { fields: { run: runId } });
    const run = before.workflow;
    if (before.state === 'success' || before.state === 'failed') {
      // The tasks run again count their attempts from 1: their earlier attempts' logs go first, so a log shows one try.
      const again = before.tasks.filter((task) => which === 'all' || task.state === 'failed' || task.state === 'upstream_failed' || task.state === 'skipped');
      const logs = again.flatMap((task) => Array.from({ length: task.attempt }, (_, at) => this.keys.log(runId, task.id, at + 1)));
      if (logs.length > 0) await this.redis.del(...logs);
    }
    const reply = (await this.scripts.braidWfResetRun(this.keys.run(runId), this.keys.active(run), this.keys.queued(run), which, maxActiveRuns, trigger)) as unknown[];
    if (Number(reply[0]) !== 1) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `run ${runId} is ${String(reply[1])}: only a finished run can run again`, { fields: { run: runId } });
    }
    await this.publish({ type: 'run', runId, workflow: run, state: String(reply[1]) });
    return { state: String(reply[1]) as RunState, ready: readyTasks(runId, reply.slice(2)) };
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const fields = await this.redis.hgetall(this.keys.run(runId));
    return fields.id === undefined ? undefined : parseRun(fields);
  }

  /** Runs of a workflow, newest interval first. */
  async listRuns(workflow: string, options: { limit?: number } = {}): Promise<RunRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.runs(workflow), 0, (options.limit ?? 50) - 1);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.run(id));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([, fields]) => fields as Record<string, string>).filter((fields) => fields.id !== undefined).map(parseRun);
  }

  /** Ids of a workflow's runs in an interval-start range, oldest first. */
  async runIdsBetween(workflow: string, fromMs: number, toMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.runs(workflow), fromMs, `(${toMs}`);
  }

  async activeRunIds(workflow: string): Promise<string[]> {
    return this.redis.zrange(this.keys.active(workflow), '0', '-1');
  }

  /** A workflow's scheduling state: paused, and the end of the last interval the scheduler created a run for. */
  async workflowState(workflow: string): Promise<{ paused: boolean; lastScheduledEndMs: number | null }> {
    const [paused, last] = await this.redis.hmget(this.keys.workflow(workflow), 'paused', 'lastScheduledEnd');
    return { paused: paused === '1', lastScheduledEndMs: last === null ? null : Number(last) };
  }

  async setPaused(workflow: string, paused: boolean): Promise<void> {
    await this.redis.hset(this.keys.workflow(workflow), 'paused', paused ? '1' : '0');
    await this.publish({ type: 'workflow', workflow, state: paused ? 'paused' : 'unpaused' });
  }

  async setLastScheduledEnd(workflow: string, endMs: number): Promise<void> {
    await this.redis.hset(this.keys.workflow(workflow), 'lastScheduledEnd', String(endMs));
  }

  /** Appends log lines of an attempt, keeping the newest `keep`; the list expires with the run's retention. */
  async appendLog(runId: string, task: string, attempt: number, lines: readonly string[], keep: number, retentionMs: number): Promise<void> {
    if (lines.length === 0) return;
    const key = this.keys.log(runId, task, attempt);
    await this.redis.multi().rpush(key, ...lines).ltrim(key, -keep, -1).pexpire(key, retentionMs).exec();
  }

  async readLog(runId: string, task: string, attempt: number, tail = 50): Promise<string[]> {
    return this.redis.lrange(this.keys.log(runId, task, attempt), -tail, -1);
  }

  /** Removes a workflow's runs that ended before `beforeMs` (their logs expire on their own). */
  async pruneRuns(workflow: string, beforeMs: number): Promise<number> {
    // A run ends after its interval starts: those starting later cannot have ended before `beforeMs`.
    const old = await this.redis.zrangebyscore(this.keys.runs(workflow), '-inf', `(${beforeMs}`);
    let removed = 0;
    for (const runId of old) {
      const [state, ended] = await this.redis.hmget(this.keys.run(runId), 'state', 'ended');
      if (state === 'running' || state === 'queued' || (ended && Number(ended) >= beforeMs)) continue;
      await this.redis.multi().del(this.keys.run(runId)).zrem(this.keys.runs(workflow), runId).exec();
      removed++;
    }
    return removed;
  }

  /** Takes, renews or releases the scheduler's lease. */
  async lease(operation: 'acquire' | 'renew' | 'release', holder: string, ttlMs: number): Promise<string | null> {
    const reply = (await this.scripts.braidWfLease(this.keys.lease(), this.keys.fence(), operation, holder, ttlMs)) as unknown[];
    return Number(reply[0]) === 1 && reply[1] !== undefined ? String(reply[1]) : null;
  }

  async leaseHolder(): Promise<string | null> {
    return this.redis.get(this.keys.lease());
  }

  async publish(event: Record<string, unknown>): Promise<void> {
    await this.redis.publish(this.keys.events(), JSON.stringify(event));
  }
}

function parseRun(fields: Record<string, string>): RunRecord {
  const dag = JSON.parse(fields.dag ?? '{"order":[]}') as { order: string[] };
  return {
    id: fields.id!,
    workflow: fields.workflow!,
    interval: { startMs: Number(fields.start), endMs: Number(fields.end) },
    trigger: fields.trigger ?? '',
    state: fields.state as RunState,
    createdAtMs: Number(fields.created),
    startedAtMs: numberOrNull(fields.started),
    endedAtMs: numberOrNull(fields.ended),
    tasks: dag.order.map((id) => ({
      id,
      state: fields[`s:${id}`] as TaskState,
      attempt: Number(fields[`a:${id}`] ?? 0),
      startedAtMs: numberOrNull(fields[`t0:${id}`]),
      endedAtMs: numberOrNull(fields[`t1:${id}`]),
      result: fields[`r:${id}`] === undefined ? null : (JSON.parse(fields[`r:${id}`]!) as unknown),
      error: fields[`e:${id}`] ?? null,
      worker: fields[`w:${id}`] ?? null,
      readyAtMs: numberOrNull(fields[`ra:${id}`]),
    })),
  };
}
