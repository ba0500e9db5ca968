import path from 'node:path';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { parseTimeMs } from '../shared/time/index.ts';
import type { Interval, RunDetail, RunRecord, RunSummary, TaskDetail, WorkflowAdmin, WorkflowDetail, WorkflowSummary } from '../workflows/index.ts';
import type { Principal } from './auth/authenticator.ts';

/** The role whose holders may trigger, retry, pause and unpause workflows. */
export const WORKFLOW_ADMIN_ROLE = 'admin';

type Env = { Variables: { principal: Principal } };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const intervalJson = (interval: Interval) => ({ start: iso(interval.startMs), end: iso(interval.endMs) });

// Instants are ISO-8601 strings in UTC (`…At`, `interval.start`/`end`), as in /v1/views; durations stay numbers of
// milliseconds (`…Ms`).

function summaryJson(summary: WorkflowSummary) {
  const { lastRun } = summary;
  return {
    name: summary.name,
    description: summary.description,
    schedule: summary.schedule,
    timeZone: summary.timeZone,
    paused: summary.paused,
    nextRunAt: iso(summary.nextRunAtMs),
    lastRun: lastRun ? { id: lastRun.id, state: lastRun.state, interval: intervalJson(lastRun.interval), endedAt: iso(lastRun.endedAtMs) } : null,
    activeRuns: summary.activeRuns,
    tasks: summary.tasks,
    // The module's name in workflows.dir: the server's folders are not the caller's business.
    file: summary.file === null ? null : path.basename(summary.file),
  };
}

function detailJson(detail: WorkflowDetail) {
  return { ...summaryJson(detail), maxActiveRuns: detail.maxActiveRuns, catchup: detail.catchup, taskList: detail.taskList };
}

function runJson(run: RunSummary | RunDetail) {
  return {
    id: run.id,
    workflow: run.workflow,
    interval: intervalJson(run.interval),
    trigger: run.trigger,
    state: run.state,
    createdAt: iso(run.createdAtMs),
    startedAt: iso(run.startedAtMs),
    endedAt: iso(run.endedAtMs),
    durationMs: run.durationMs,
    /** Attempts of all its tasks in its latest try. */
    attempts: run.attempts,
    taskStates: run.taskStates,
  };
}

/** A stored log line (a JSON object) as an object; a line that is not JSON stays text. */
function logLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

function taskJson(task: TaskDetail) {
  return {
    id: task.id,
    state: task.state,
    attempt: task.attempt,
    readyAt: iso(task.readyAtMs),
    startedAt: iso(task.startedAtMs),
    endedAt: iso(task.endedAtMs),
    durationMs: task.durationMs,
    worker: task.worker,
    result: task.result,
    error: task.error,
    log: task.log.map(logLine),
  };
}

function runDetailJson(run: RunDetail) {
  return { ...runJson(run), tasks: run.tasks.map(taskJson) };
}

function badArgument(argument: string, message: string): BraidError {
  return new BraidError(ErrorCode.BAD_ARGUMENT, `argument \`${argument}\` ${message}`, { fields: { argument } });
}

/** A query parameter that is a whole number in [min, max], or `fallback` when absent. */
function wholeNumber(c: Context, argument: string, min: number, max: number, fallback: number): number {
  const text = c.req.query(argument);
  if (text === undefined || text === '') return fallback;
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) throw badArgument(argument, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(text)}`);
  return value;
}

/** A JSON request body checked against `schema`; an empty body is `{}`. */
async function bodyOf<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (thrown) {
      throw new BraidError(ErrorCode.BAD_ARGUMENT, `the request body is not JSON: ${(thrown as Error).message}`, { fields: { argument: 'body' } });
    }
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape as object).join(', ') : '';
    throw badArgument(issue.keys[0]!, `is not one this request takes${known ? ` (it takes ${known})` : ''}`);
  }
  if (issue.path.length === 0) throw new BraidError(ErrorCode.BAD_ARGUMENT, `the request body must be a JSON object: ${issue.message}`, { fields: { argument: 'body' } });
  throw badArgument(issue.path.join('.'), issue.message);
}

const TriggerBody = z.strictObject({ intervalStart: z.string().optional(), intervalEnd: z.string().optional() });
const RetryBody = z.strictObject({ failedOnly: z.boolean().optional() });

function instant(argument: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseTimeMs(text);
  if (ms === undefined) throw badArgument(argument, `must be an ISO-8601 timestamp, epoch milliseconds, \`now\` or \`now-<duration>\`; got ${JSON.stringify(text)}`);
  return ms;
}

/** Refuses (FORBIDDEN) a caller without the admin role. */
function requireAdmin(c: Context<Env>, what: string): void {
  const principal = c.get('principal');
  if (principal.kind !== 'anonymous' && principal.roles.includes(WORKFLOW_ADMIN_ROLE)) return;
  const who = principal.kind === 'anonymous' ? 'an anonymous caller' : `${principal.name} (roles: ${principal.roles.join(', ')})`;
  throw new BraidError(ErrorCode.FORBIDDEN, `${who} may not ${what}: that needs the ${WORKFLOW_ADMIN_ROLE} role`, {
    fields: { role: WORKFLOW_ADMIN_ROLE },
    hint: `send an API key or JWT whose roles include ${WORKFLOW_ADMIN_ROLE} (npx braid apikey create --name ops --roles ${WORKFLOW_ADMIN_ROLE})`,
  });
}

/**
 * `/v1/workflows`: the workflows' read and admin operations, as JSON, through {@link WorkflowAdmin}. Any authenticated
 * caller reads; triggering, retrying, pausing and unpausing need the admin role. Mounted behind the app's
 * authentication, rate limit and error answers.
 */
export function workflowRoutes(admin: WorkflowAdmin): Hono<Env> {
  const routes = new Hono<Env>();

  /** A run of the workflow in the path; another workflow's run is not found here. */
  const runOf = async (c: Context<Env>): Promise<RunRecord> => {
    const workflow = admin.entry(c.req.param('workflow')!).workflow.name;
    const runId = c.req.param('run')!;
    const run = await admin.store.getRun(runId);
    if (!run || run.workflow !== workflow) {
      throw new BraidError(ErrorCode.NOT_FOUND, `no run ${runId} of workflow ${workflow}`, { fields: { workflow, run: runId }, hint: `GET /v1/workflows/${workflow}/runs lists its runs` });
    }
    return run;
  };

  routes.get('/', async (c) => c.json({ workflows: (await admin.list()).map(summaryJson) }));

  routes.get('/:workflow', async (c) => c.json(detailJson(await admin.show(c.req.param('workflow')))));

  routes.get('/:workflow/runs', async (c) => {
    const limit = wholeNumber(c, 'limit', 1, 1_000, 20);
    return c.json({ runs: (await admin.runs(c.req.param('workflow'), limit)).map(runJson) });
  });

  routes.get('/:workflow/runs/:run', async (c) => {
    const logTail = wholeNumber(c, 'logTail', 1, 10_000, 20);
    const run = await runOf(c);
    return c.json(runDetailJson(await admin.run(run.id, logTail)));
  });

  routes.post('/:workflow/trigger', async (c) => {
    requireAdmin(c, 'trigger workflows');
    const { workflow } = admin.entry(c.req.param('workflow'));
    const { name } = workflow;
    const body = await bodyOf(c, TriggerBody);
    const intervalStartMs = instant('intervalStart', body.intervalStart);
    const intervalEndMs = instant('intervalEnd', body.intervalEnd);
    // triggerRun refuses an end for a scheduled workflow, and an end before the start, naming intervalEnd.
    const created = await admin.trigger(name, { ...(intervalStartMs === undefined ? {} : { intervalStartMs }), ...(intervalEndMs === undefined ? {} : { intervalEndMs }) });
    c.header('Location', `/v1/workflows/${name}/runs/${encodeURIComponent(created.runId)}`);
    return c.json(created, 201);
  });

  routes.post('/:workflow/runs/:run/retry', async (c) => {
    requireAdmin(c, 'retry workflow runs');
    const run = await runOf(c);
    const body = await bodyOf(c, RetryBody);
    return c.json(await admin.retry(run.id, { failedOnly: body.failedOnly ?? false }));
  });

  for (const [action, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const) {
    routes.post(`/:workflow/${action}`, async (c) => {
      requireAdmin(c, `${action} workflows`);
      const name = c.req.param('workflow');
      await admin.setPaused(name, paused);
      return c.json({ workflow: name, paused });
    });
  }

  return routes;
}
