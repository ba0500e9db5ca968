import { createHash } from 'node:crypto';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { canonicalTimeZone, parseDurationMs, parseTimeMs, UTC } from '../shared/time/index.ts';
import { parseSchedule, type Schedule } from './schedule.ts';

/** When a task may start, given how its upstream tasks ended (Airflow's rules). */
export const TRIGGER_RULES = ['all_success', 'all_done', 'one_failed', 'none_failed', 'one_success'] as const;
export type TriggerRule = (typeof TRIGGER_RULES)[number];

/** A value a task returns: small JSON, handed to its downstream tasks. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A task's log, kept with its attempt (every line carries the run id, task id and attempt). */
export interface TaskLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a task function receives. */
export interface TaskContext {
  /** The run's data interval, `[start, end)`. */
  readonly interval: { readonly start: Date; readonly end: Date; readonly startMs: number; readonly endMs: number };
  readonly run: { readonly id: string; readonly workflow: string; readonly trigger: string };
  readonly task: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The results of this task's upstream tasks, by task id (only those that returned one). */
  readonly upstream: Readonly<Record<string, JsonValue>>;
  readonly logger: TaskLogger;
  /** Aborted when the task is stopped (its timeout, or the worker shutting down), shortly before its thread is terminated. */
  readonly signal: AbortSignal;
}

/** What every task takes, whatever it runs. */
export interface TaskOptions {
  /** `[a-z][a-z0-9_]*`, unique within the workflow. */
  readonly id: string;
  readonly dependsOn?: readonly string[];
  /** Default `all_success`. */
  readonly trigger?: TriggerRule;
  /** Attempts after the first. Default 0. */
  readonly retries?: number;
  /** The first retry's delay; each next one doubles it, with up to 20 % jitter. Default 1s. */
  readonly retryDelay?: string | number;
  /** The task is stopped (its thread or process killed) and failed after this long. Default 1h. */
  readonly timeout?: string | number;
  /** A pool whose slots bound how many of its tasks run at once across all workers (`workflows.pools`). Default `default`. */
  readonly pool?: string;
}

/** What a task runs. */
export type TaskAction =
  | { readonly kind: 'function'; readonly run: (context: TaskContext) => JsonValue | void | Promise<JsonValue | void> }
  | { readonly kind: 'recompute'; readonly view: string }
  | { readonly kind: 'compact'; readonly source: string }
  | { readonly kind: 'sql'; readonly query: string; readonly output: string }
  | { readonly kind: 'command'; readonly argv: readonly string[]; readonly env?: Readonly<Record<string, string>> }
  | {
      readonly kind: 'waitForData';
      readonly source: string;
      /** How long event time must have moved past the interval's end beyond the source's out-of-orderness bound. */
      readonly latenessMs: number;
      /** How often the sensor looks; it holds no worker slot in between. */
      readonly pokeIntervalMs: number;
      /** The sensor fails after waiting this long. */
      readonly sensorTimeoutMs: number;
    };

export type TaskKind = TaskAction['kind'];

/** A validated task. */
export interface Task {
  readonly id: string;
  readonly dependsOn: readonly string[];
  readonly trigger: TriggerRule;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly timeoutMs: number;
  readonly pool: string;
  readonly action: TaskAction;
}

export interface TaskSpec extends TaskOptions {
  readonly action: TaskAction;
}

export interface WorkflowSpec {
  /** `[a-z][a-z0-9_]*`. */
  readonly name: string;
  readonly description?: string;
  /** Cron (5 fields, or 6 with seconds) or `@hourly`, `@daily`…; each run covers the interval between two firings. Unset: runs only when triggered. */
  readonly schedule?: string;
  /** The zone the schedule's cron is read in. Default UTC. */
  readonly timeZone?: string;
  /** After downtime, create runs for every interval missed since `start` (or since the last run). Default false: only the latest. */
  readonly catchup?: boolean;
  /** The first interval's start (ISO-8601) for catchup. Default: the interval before the scheduler first sees the workflow. */
  readonly start?: string;
  /** Runs of this workflow active at once; more wait, queued. Default 1. */
  readonly maxActiveRuns?: number;
  readonly tasks: readonly TaskSpec[];
}

/** A validated workflow: what the scheduler, the workers and the CLI use. */
export interface Workflow {
  readonly kind: 'braid.workflow';
  readonly name: string;
  readonly description: string;
  readonly schedule: Schedule | undefined;
  readonly timeZone: string;
  readonly catchup: boolean;
  readonly startMs: number | undefined;
  readonly maxActiveRuns: number;
  /** In an order where every task comes after its upstream tasks. */
  readonly tasks: readonly Task[];
  /** Downstream tasks of each task. */
  readonly downstream: Readonly<Record<string, readonly string[]>>;
  /** Changes with the graph and the tasks' settings (a run keeps the graph it started with). */
  readonly definitionHash: string;
}

const NAME = /^[a-z][a-z0-9_]*$/;
const POOL = /^[a-z][a-z0-9_-]*$/;
const DEFAULT_TIMEOUT_MS = 3_600_000;

/** A task error that retrying cannot fix: the task fails at once, and the run shows why. */
export class DoNotRetry extends Error {
  override readonly name = 'DoNotRetry';
}

/**
 * Declares a workflow: a DAG of tasks run once per data interval of its schedule. Checked here, so a bad workflow
 * fails at load naming the workflow and the task: cycles, unknown or duplicate ids, a bad cron or time zone.
 *
 * @example
 * export const shopDaily = defineWorkflow({
 *   name: 'shop_daily',
 *   schedule: '0 2 * * *',
 *   timeZone: 'America/New_York',
 *   tasks: [
 *     waitForData('orders', { id: 'orders_ready' }),
 *     sql({ id: 'revenue', dependsOn: ['orders_ready'], output: 'daily_revenue', query: 'SELECT …' }),
 *     task({ id: 'report', dependsOn: ['revenue'], run: ({ upstream }) => ({ ok: true }) }),
 *   ],
 * });
 */
export function defineWorkflow(spec: WorkflowSpec): Workflow {
  const where = (task?: string) => `workflow ${String(spec?.name)}${task ? `, task ${task}` : ''}`;
  const fail = (message: string, task?: string): never => {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `${where(task)}: ${message}`, { fields: { workflow: spec?.name, ...(task ? { task } : {}) } });
  };
  if (typeof spec?.name !== 'string' || !NAME.test(spec.name)) fail('name must match [a-z][a-z0-9_]*');
  const timeZone = spec.timeZone === undefined ? UTC : canonicalTimeZone(spec.timeZone);
  if (timeZone === undefined) return fail(`timeZone: unknown time zone ${JSON.stringify(spec.timeZone)} (an IANA name such as America/New_York)`);
  let schedule: Schedule | undefined;
  if (spec.schedule !== undefined) {
    try {
      schedule = parseSchedule(spec.schedule, timeZone);
    } catch (error) {
      return fail(`schedule ${JSON.stringify(spec.schedule)}: ${(error as Error).message}`);
    }
  }
  const startMs = spec.start === undefined ? undefined : parseTimeMs(spec.start);
  if (spec.start !== undefined && (startMs === undefined || !Number.isFinite(startMs))) fail(`start: expected an ISO-8601 time, got ${JSON.stringify(spec.start)}`);
  const maxActiveRuns = spec.maxActiveRuns ?? 1;
  if (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1) fail(`maxActiveRuns must be a whole number ≥ 1, got ${JSON.stringify(spec.maxActiveRuns)}`);
  if (!Array.isArray(spec.tasks) || spec.tasks.length === 0) fail('tasks: declare at least one task');

  const tasks = new Map<string, Task>();
  for (const taskSpec of spec.tasks) {
    const id = taskSpec?.id;
    if (typeof id !== 'string' || !NAME.test(id)) fail(`task id ${JSON.stringify(id)} must match [a-z][a-z0-9_]*`);
    if (tasks.has(id)) fail('the id is used twice', id);
    const duration = (key: string, value: string | number | undefined, fallback: number, minimum = 1): number => {
      if (value === undefined) return fallback;
      const parsed = parseDurationMs(value);
      if (parsed === undefined || parsed < minimum) return fail(`${key}: expected a duration such as '30s' or '5m', got ${JSON.stringify(value)}`, id);
      return parsed;
    };
    const retries = taskSpec.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0 || retries > 100) fail(`retries must be a whole number from 0 to 100, got ${JSON.stringify(taskSpec.retries)}`, id);
    const trigger = taskSpec.trigger ?? 'all_success';
    if (!(TRIGGER_RULES as readonly string[]).includes(trigger)) fail(`trigger must be one of ${TRIGGER_RULES.join(', ')}, got ${JSON.stringify(trigger)}`, id);
    const pool = taskSpec.pool ?? 'default';
    if (typeof pool !== 'string' || !POOL.test(pool)) fail(`pool must match [a-z][a-z0-9_-]*, got ${JSON.stringify(pool)}`, id);
    const dependsOn = [...(taskSpec.dependsOn ?? [])];
    if (new Set(dependsOn).size !== dependsOn.length) fail('dependsOn names a task twice', id);
    checkAction(taskSpec.action, (message) => fail(message, id));
    tasks.set(id, {
      id,
      dependsOn,
      trigger,
      retries,
      retryDelayMs: duration('retryDelay', taskSpec.retryDelay, 1_000, 0),
      timeoutMs: duration('timeout', taskSpec.timeout, DEFAULT_TIMEOUT_MS),
      pool,
      action: taskSpec.action,
    });
  }
  for (const task of tasks.values()) {
    for (const upstream of task.dependsOn) {
      if (!tasks.has(upstream)) fail(`dependsOn: unknown task ${upstream} (tasks: ${[...tasks.keys()].join(', ')})`, task.id);
      if (upstream === task.id) fail('a task cannot depend on itself', task.id);
    }
  }
  const ordered = topologicalOrder(tasks, (cycle) => fail(`the dependencies form a cycle: ${cycle.join(' → ')}`));
  const downstream: Record<string, string[]> = Object.fromEntries(ordered.map((task) => [task.id, []]));
  for (const task of ordered) for (const upstream of task.dependsOn) downstream[upstream]!.push(task.id);

  const definition = {
    schedule: spec.schedule ?? null,
    timeZone,
    tasks: ordered.map((task) => ({ ...task, action: describeAction(task.action) })),
  };
  return {
    kind: 'braid.workflow',
    name: spec.name,
    description: spec.description ?? '',
    schedule,
    timeZone,
    catchup: spec.catchup === true,
    startMs,
    maxActiveRuns,
    tasks: ordered,
    downstream,
    definitionHash: createHash('sha256').update(JSON.stringify(definition)).digest('hex').slice(0, 16),
  };
}

function checkAction(action: TaskAction | undefined, fail: (message: string) => never): void {
  if (typeof action !== 'object' || action === null) fail('declare what the task runs (task(), sql(), recompute(), …)');
  switch (action.kind) {
    case 'function':
      if (typeof action.run !== 'function') fail('run must be a function');
      return;
    case 'recompute':
      if (typeof action.view !== 'string' || action.view === '') fail('recompute needs a view name');
      return;
    case 'compact':
      if (typeof action.source !== 'string' || action.source === '') fail('compact needs a source name');
      return;
    case 'sql':
      if (typeof action.query !== 'string' || action.query.trim() === '') fail('sql needs a query');
      if (typeof action.output !== 'string' || !NAME.test(action.output)) fail(`sql output must be a dataset name matching [a-z][a-z0-9_]*, got ${JSON.stringify(action.output)}`);
      return;
    case 'command':
      if (!Array.isArray(action.argv) || action.argv.length === 0 || !action.argv.every((arg) => typeof arg === 'string')) fail('command needs a program and its arguments, e.g. command({ argv: ["./export.sh"] })');
      return;
    case 'waitForData':
      if (typeof action.source !== 'string' || action.source === '') fail('waitForData needs a source name');
      return;
    default:
      fail(`unknown task kind ${JSON.stringify((action as { kind: unknown }).kind)}`);
  }
}

/** The action as data, for the definition hash (a function's source stands for it). */
function describeAction(action: TaskAction): Record<string, unknown> {
  return action.kind === 'function' ? { kind: 'function', source: action.run.toString() } : { ...action };
}

/** Tasks in dependency order (Kahn's algorithm, ties in declaration order); a cycle is reported with its path. */
function topologicalOrder(tasks: ReadonlyMap<string, Task>, onCycle: (cycle: string[]) => never): Task[] {
  const waiting = new Map([...tasks.values()].map((task) => [task.id, task.dependsOn.length]));
  const ordered: Task[] = [];
  const ready = [...tasks.values()].filter((task) => task.dependsOn.length === 0);
  while (ready.length > 0) {
    const task = ready.shift()!;
    ordered.push(task);
    for (const candidate of tasks.values()) {
      if (!candidate.dependsOn.includes(task.id)) continue;
      const left = waiting.get(candidate.id)! - 1;
      waiting.set(candidate.id, left);
      if (left === 0) ready.push(candidate);
    }
  }
  if (ordered.length === tasks.size) return ordered;
  // Walk upstream from a task left over until a task repeats: that loop is a cycle.
  const left = new Set([...tasks.keys()].filter((id) => !ordered.some((task) => task.id === id)));
  const path: string[] = [];
  let at = [...left][0]!;
  while (!path.includes(at)) {
    path.push(at);
    at = tasks.get(at)!.dependsOn.find((upstream) => left.has(upstream))!;
  }
  return onCycle([...path.slice(path.indexOf(at)), at].reverse());
}

export function isWorkflow(value: unknown): value is Workflow {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'braid.workflow';
}

// ---- Task builders -------------------------------------------------------------------------------------------

/**
 * A TypeScript task: `run` receives the interval, the run, the attempt, a logger, an abort signal and the upstream
 * results, and may return a small JSON value for its downstream tasks. Throw `DoNotRetry` for an error retrying
 * cannot fix.
 *
 * @example task({ id: 'report', dependsOn: ['revenue'], retries: 2, run: async ({ interval, logger }) => ({ rows: 10 }) })
 */
export function task(options: TaskOptions & { run: (context: TaskContext) => JsonValue | void | Promise<JsonValue | void> }): TaskSpec {
  const { run, ...rest } = options;
  return { ...rest, action: { kind: 'function', run } };
}

/** Recomputes a batch view for the run's interval and publishes it (incrementally: the interval's windows). */
export function recompute(view: string, options: Partial<TaskOptions> = {}): TaskSpec {
  return { id: `recompute_${view}`, pool: 'duckdb', ...options, action: { kind: 'recompute', view } };
}

/** Compacts a source's master dataset (`npx braid compact`). */
export function compact(source: string, options: Partial<TaskOptions> = {}): TaskSpec {
  return { id: `compact_${source}`, ...options, action: { kind: 'compact', source } };
}

/**
 * A DuckDB statement over the master dataset (a table per source) and the published batch views and datasets (a
 * table each), with the run's interval bound as `$start` and `$end` (TIMESTAMPTZ) and `$start_ms` and `$end_ms`
 * (epoch ms). Its rows are published as a new version of the dataset `output`, atomically, as batch views are.
 */
export function sql(options: TaskOptions & { query: string; output: string }): TaskSpec {
  const { query, output, ...rest } = options;
  return { pool: 'duckdb', ...rest, action: { kind: 'sql', query, output } };
}

/** An external program, with the interval in `BRAID_INTERVAL_START`/`BRAID_INTERVAL_END` (ISO-8601); exit 0 is success. */
export function command(options: TaskOptions & { argv: readonly string[]; env?: Readonly<Record<string, string>> }): TaskSpec {
  const { argv, env, ...rest } = options;
  return { ...rest, action: { kind: 'command', argv, ...(env ? { env } : {}) } };
}

/**
 * A sensor: completes once the archived master dataset of `source` is complete for the run's interval (every
 * archived Kafka partition has events past the interval's end by the source's out-of-orderness bound plus
 * `lateness`). It holds no worker slot while it waits, looking again every `pokeInterval`, and fails after
 * `sensorTimeout`.
 */
export function waitForData(
  source: string,
  options: Partial<TaskOptions> & { lateness?: string | number; pokeInterval?: string | number; sensorTimeout?: string | number } = {},
): TaskSpec {
  const { lateness, pokeInterval, sensorTimeout, ...rest } = options;
  const duration = (what: string, value: string | number | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const parsed = parseDurationMs(value);
    if (parsed === undefined) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `waitForData(${source}): ${what}: expected a duration such as '30s', got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
  return {
    id: `wait_for_${source}`,
    ...rest,
    action: {
      kind: 'waitForData',
      source,
      latenessMs: duration('lateness', lateness, 0),
      pokeIntervalMs: duration('pokeInterval', pokeInterval, 5_000),
      sensorTimeoutMs: duration('sensorTimeout', sensorTimeout, 6 * 3_600_000),
    },
  };
}
