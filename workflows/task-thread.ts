import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { loadCatalog, type Catalog } from '../shared/catalog/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { runBuiltInTask } from './built-in-tasks.ts';
import { DoNotRetry, isWorkflow, type JsonValue, type TaskContext, type Workflow } from './define-workflow.ts';
import { recomputeWorkflow } from './recompute-workflow.ts';
import type { TaskCancel, TaskReply, TaskRequest, TaskThreadInit } from './task-protocol.ts';

/**
 * A workflow task thread: runs one task at a time for its host (task-threads.ts), which kills the thread when the
 * task outlives its timeout, so nothing of it goes on. Workflow modules and the catalog are loaded once per
 * thread, when a task first needs them.
 */
const init = workerData as TaskThreadInit;
const port = parentPort!;
const send = (reply: TaskReply) => port.postMessage(reply);

let catalog: Promise<Catalog> | undefined;
const catalogOnce = () => (catalog ??= loadCatalog(init.config));
const modules = new Map<string, Promise<Workflow[]>>();

async function workflowOf(request: TaskRequest): Promise<Workflow> {
  let found: Workflow | undefined;
  if (request.workflowFile === undefined) {
    found = recomputeWorkflow(init.config, await catalogOnce());
  } else {
    let loaded = modules.get(request.workflowFile);
    if (!loaded) {
      // The catalog first: a workflow module may name sources and views.
      loaded = catalogOnce().then(async () => {
        const exported = (await import(pathToFileURL(request.workflowFile!).href)) as Record<string, unknown>;
        return Object.values(exported).flatMap((value) => (Array.isArray(value) ? value : [value])).filter(isWorkflow);
      });
      modules.set(request.workflowFile, loaded);
    }
    found = (await loaded).find((workflow) => workflow.name === request.workflow);
  }
  if (!found || found.name !== request.workflow) throw new DoNotRetry(`workflow ${request.workflow} is not defined in ${request.workflowFile ?? 'the catalog'}`);
  return found;
}

/** A task's result must be small JSON: it is stored with the run and handed to downstream tasks. */
function checkedResult(value: unknown): JsonValue {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  if (text === undefined) throw new DoNotRetry('the task returned something that is not JSON');
  if (text.length > 65_536) throw new DoNotRetry(`the task returned ${text.length} bytes of JSON; keep results under 64 KiB (write data to a dataset)`);
  return JSON.parse(text) as JsonValue;
}

const running = new Map<number, AbortController>();

async function run(request: TaskRequest): Promise<void> {
  const abort = new AbortController();
  running.set(request.id, abort);
  const log = (level: 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) =>
    send({ type: 'log', id: request.id, level, message: String(message), ...(fields ? { fields: JSON.parse(JSON.stringify(fields)) as Record<string, unknown> } : {}) });
  try {
    const workflow = await workflowOf(request);
    const task = workflow.tasks.find((candidate) => candidate.id === request.task);
    if (!task) throw new DoNotRetry(`workflow ${workflow.name} has no task ${request.task}`);
    const context: TaskContext = {
      interval: { start: new Date(request.interval.startMs), end: new Date(request.interval.endMs), startMs: request.interval.startMs, endMs: request.interval.endMs },
      run: { id: request.runId, workflow: workflow.name, trigger: request.trigger },
      task: task.id,
      attempt: request.attempt,
      upstream: request.upstream as Record<string, JsonValue>,
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
      signal: abort.signal,
    };
    const result = task.action.kind === 'function' ? await task.action.run(context) : await runBuiltInTask(task.action, context, init.config, catalogOnce);
    send({ type: 'done', id: request.id, ok: true, result: checkedResult(result) });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // A mistake in the definition or its arguments stays a mistake on the next attempt; anything else may pass.
    const mistake = error instanceof BraidError && (error.code === ErrorCode.CONFIG_INVALID || error.code === ErrorCode.BAD_ARGUMENT);
    send({ type: 'done', id: request.id, ok: false, error: message, retryable: !(error instanceof DoNotRetry || mistake) });
  } finally {
    running.delete(request.id);
  }
}

port.on('message', (message: TaskRequest | TaskCancel) => {
  if (message.type === 'run') void run(message);
  else running.get(message.id)?.abort(new Error('the task was stopped'));
});
send({ type: 'ready' });
