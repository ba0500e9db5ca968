import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import os from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { registerBatchViewMetrics } from '../batch/index.ts';
import { connectRedis } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';
import type { Logger } from '../shared/logging/index.ts';
import type { Registry } from '../shared/metrics/index.ts';
import type { Task } from './define-workflow.ts';
import type { WorkflowCatalog } from './load-workflows.ts';
import { runCommand } from './run-command.ts';
import { RunStore, type AttemptOutcome, type AttemptStart, type ReadyTask } from './run-store.ts';
import { bullConnection, queueName, TaskQueues, type TaskJob } from './task-queues.ts';
import { TaskThreadPool, type TaskLogLine, type TaskThreadOutcome } from './task-threads.ts';
import { createWorkflowMetrics, type WorkflowMetrics } from './workflow-metrics.ts';

export interface WorkflowWorkerOptions {
  config: Config;
  workflows: WorkflowCatalog;
  logger: Logger;
  registry: Registry;
  /** The pools whose tasks this worker takes. Default: `default` and every configured pool. */
  pools?: readonly string[];
  /** Tasks this worker runs at once (its task threads). Default 4. */
  concurrency?: number;
  /** On stop, running tasks get this long to finish before they are stopped and left to run again elsewhere. Default 10 s. */
  stopGraceMs?: number;
}

/** A retry's delay: the base doubled per attempt after the first, plus up to 20 % jitter so retries spread out. */
export function retryDelayMs(baseMs: number, attempt: number, random = Math.random): number {
  const exponential = baseMs * 2 ** Math.max(0, attempt - 1);
  return Math.round(Math.min(exponential, 3_600_000) * (1 + 0.2 * random()));
}

/**
 * A workflow worker: takes ready tasks from the pools' queues, starts an attempt (a fenced token, so a worker
 * taken for dead can never commit over a newer attempt), runs the task in a task thread (a `command` in a process
 * group of its own) under its timeout, and ends the attempt, which queues the downstream tasks that became ready
 * at once. Start any number, on any number of machines.
 *
 * @example
 * const worker = await WorkflowWorker.start({ config, workflows, logger, registry, concurrency: 4 });
 * await worker.stop(); // stops taking tasks; running ones get stopGraceMs to finish
 */
export class WorkflowWorker {
  readonly id = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly metrics: WorkflowMetrics;
  private bullWorkers: Worker[] = [];
  /** BullMQ leaves connections it was given open: this worker closes them. */
  private readonly connections: Redis[] = [];

  private constructor(
    private readonly options: WorkflowWorkerOptions,
    private readonly redis: Redis,
    private readonly store: RunStore,
    private readonly queues: TaskQueues,
    private readonly threads: TaskThreadPool,
  ) {
    this.log = options.logger.child({ worker: this.id });
    this.metrics = createWorkflowMetrics(options.registry);
    // From zero, so a workflow's first failed run is an increase that an alert sees.
    for (const name of options.workflows.workflows.keys()) for (const state of ['success', 'failed']) this.metrics.runs.inc({ workflow: name, state }, 0);
    const recomputed = [...options.workflows.workflows.values()].flatMap(({ workflow }) => workflow.tasks.flatMap((task) => (task.action.kind === 'recompute' ? [task.action.view] : [])));
    registerBatchViewMetrics(options.registry, options.config.dataDir, [...new Set(recomputed)]);
    // Each running task listens to the stop signal: more than Node's default 10 is expected, not a leak.
    setMaxListeners(Infinity, this.abort.signal);
  }

  static async start(options: WorkflowWorkerOptions): Promise<WorkflowWorker> {
    const { config } = options;
    const concurrency = options.concurrency ?? 4;
    const redis = await connectRedis(config.redis, { name: 'braid-workflow-worker' });
    const store = new RunStore(redis, config.redis.keyPrefix);
    const queues = new TaskQueues(config, store.keys);
    const threads = new TaskThreadPool({ config }, concurrency);
    const worker = new WorkflowWorker(options, redis, store, queues, threads);
    const pools = options.pools ?? ['default', ...Object.keys(config.workflows.pools)];
    try {
      await queues.applyPoolLimits();
      for (const pool of pools) {
        const connection = bullConnection(config.redis, `braid-workflow-worker-${pool}`);
        worker.connections.push(connection);
        const bull = new Worker<TaskJob>(queueName(pool), (job: Job<TaskJob>) => worker.process(job.data), {
          connection,
          prefix: store.keys.bullPrefix(),
          concurrency,
          lockDuration: config.workflows.lockDurationMs,
          stalledInterval: Math.max(1_000, Math.round(config.workflows.lockDurationMs / 2)),
          // A job whose worker died comes back to the queue however often that happens: the run state decides.
          maxStalledCount: 1_000_000,
        });
        bull.on('error', (error) => worker.log.warn({ err: error, pool }, 'queue worker error'));
        worker.bullWorkers.push(bull);
      }
      await Promise.all(worker.bullWorkers.map((bull) => bull.waitUntilReady()));
    } catch (error) {
      await worker.stop().catch(() => undefined);
      throw error;
    }
    worker.log.info({ pools, concurrency }, 'workflow worker started');
    return worker;
  }

  /** Takes one job: starts the attempt, runs the task, ends the attempt and queues what became ready. */
  private async process(job: TaskJob): Promise<void> {
    const started = await this.store.startAttempt(job.runId, job.task, job.seq, this.id);
    if ('skipped' in started) {
      this.log.debug({ run: job.runId, task: job.task, seq: job.seq, reason: started.skipped }, 'job skipped');
      return;
    }
    const entry = this.options.workflows.workflows.get(started.workflow);
    const task = entry?.workflow.tasks.find((candidate) => candidate.id === job.task);
    if (!entry || !task) {
      await this.finish(job, started, undefined, { outcome: 'failed', error: `worker ${this.id} does not know ${entry ? `task ${job.task} of ` : ''}workflow ${started.workflow}` });
      return;
    }
    if (started.handoffMs !== null) this.metrics.handoffSeconds.observe(started.handoffMs / 1000);
    // Made only when something is logged at a level the process prints (a child logger costs a serialization).
    let child: Logger | undefined;
    const log = () => (child ??= this.log.child({ run: job.runId, task: task.id, attempt: started.attempt }));
    const lines: string[] = [];
    let flushing: Promise<void> = Promise.resolve();
    const flushLines = () => {
      const batch = lines.splice(0);
      flushing = flushing
        .then(() => this.store.appendLog(job.runId, task.id, started.attempt, batch, this.options.config.workflows.logLines, this.options.config.workflows.retentionMs))
        .catch((error: unknown) => log().warn({ err: error }, 'task log lines lost'));
    };
    // A long task's lines reach Redis every 250 ms; a short one's with the attempt's end.
    let logTimer: NodeJS.Timeout | undefined;
    const onLog = (line: TaskLogLine, processLevel: 'debug' | TaskLogLine['level'] = line.level) => {
      lines.push(JSON.stringify({ t: new Date().toISOString(), level: line.level, msg: line.message, run: job.runId, task: task.id, attempt: started.attempt, ...(line.fields ?? {}) }));
      if (this.log.isLevelEnabled(processLevel)) log()[processLevel](line.fields ?? {}, line.message);
      if (lines.length >= 100) flushLines();
      logTimer ??= setInterval(() => lines.length > 0 && flushLines(), 250);
    };
    const timer = this.metrics.taskSeconds.startTimer({ workflow: entry.workflow.name, pool: task.pool });
    let outcome: TaskThreadOutcome;
    try {
      // The attempt's own start and success are in the task's log; the process logs them at debug (thousands a second).
      onLog({ level: 'info', message: `attempt ${started.attempt} started on ${this.id}` }, 'debug');
      outcome =
        task.action.kind === 'command'
          ? await runCommand(task.action.argv, {
              env: {
                ...(task.action.env ?? {}),
                BRAID_INTERVAL_START: new Date(started.interval.startMs).toISOString(),
                BRAID_INTERVAL_END: new Date(started.interval.endMs).toISOString(),
                BRAID_RUN_ID: job.runId,
                BRAID_TASK: task.id,
                BRAID_ATTEMPT: String(started.attempt),
              },
              timeoutMs: task.timeoutMs,
              signal: this.abort.signal,
              onLog,
            })
          : await this.threads.run(
              {
                workflowFile: entry.file,
                workflow: entry.workflow.name,
                task: task.id,
                runId: job.runId,
                trigger: started.trigger,
                interval: started.interval,
                attempt: started.attempt,
                upstream: started.upstream,
              },
              { timeoutMs: task.timeoutMs, signal: this.abort.signal, onLog },
            );
    } finally {
      timer();
    }
    const ended = this.outcomeOf(task, started, outcome);
    onLog({ level: ended.outcome === 'failed' ? 'error' : 'info', message: describeOutcome(ended) }, ended.outcome === 'success' || ended.outcome === 'poke' ? 'debug' : undefined);
    clearInterval(logTimer);
    // Lines flushed earlier first; the last ones are written by the attempt's end itself.
    await flushing;
    await this.finish(job, started, task, ended, lines.splice(0));
  }

  /** What the attempt's end means for the task: success, a retry, a sensor's next look, or failure. */
  private outcomeOf(task: Task, started: AttemptStart, outcome: TaskThreadOutcome): AttemptOutcome {
    const now = Date.now();
    if (outcome.ok) {
      if (task.action.kind === 'waitForData') {
        const sensor = outcome.result as { satisfied?: boolean; needed?: string; reached?: string | null };
        if (sensor.satisfied === true) return { outcome: 'success', result: outcome.result };
        if (now - started.firstStartMs >= task.action.sensorTimeoutMs) {
          return { outcome: 'failed', error: `the data was not there after ${Math.round((now - started.firstStartMs) / 1000)} s (sensor timeout): ${JSON.stringify(outcome.result)}` };
        }
        return { outcome: 'poke', readyAtMs: now + task.action.pokeIntervalMs, note: `the data reaches ${sensor.reached ?? 'nothing yet'}, needs ${sensor.needed}` };
      }
      return { outcome: 'success', result: outcome.result };
    }
    if (outcome.retryable && started.attempt <= task.retries && !this.abort.signal.aborted) {
      return { outcome: 'retry', error: outcome.error, readyAtMs: now + retryDelayMs(task.retryDelayMs, started.attempt) };
    }
    if (this.abort.signal.aborted) {
      // Stopped by this worker's shutdown, not by the task: it runs again, elsewhere or after a restart.
      return { outcome: 'retry', error: outcome.error, readyAtMs: now };
    }
    return { outcome: 'failed', error: outcome.retryable ? `${outcome.error} (attempt ${started.attempt} of ${task.retries + 1})` : `${outcome.error} (not retried)` };
  }

  private async finish(job: TaskJob, started: AttemptStart, task: Task | undefined, ended: AttemptOutcome, lines: readonly string[] = []): Promise<void> {
    const { logLines, retentionMs } = this.options.config.workflows;
    const finished = await this.store.finishAttempt(job.runId, started.workflow, job.task, started.token, ended, { attempt: started.attempt, lines, keep: logLines, retentionMs });
    if (!finished.accepted) {
      this.metrics.attempts.inc({ workflow: started.workflow, task: job.task, outcome: 'stale' });
      this.log.warn({ run: job.runId, task: job.task, token: started.token, reason: finished.reason }, 'attempt refused: the task moved on (its attempt was taken for lost)');
      return;
    }
    this.metrics.attempts.inc({ workflow: started.workflow, task: job.task, outcome: ended.outcome });
    if (task?.action.kind === 'waitForData' && (ended.outcome === 'success' || ended.outcome === 'failed')) {
      this.metrics.sensorWaitSeconds.observe({ workflow: started.workflow, task: job.task }, (Date.now() - started.firstStartMs) / 1000);
    }
    const ready: ReadyTask[] = [...finished.ready];
    if (finished.runState) {
      this.metrics.runs.inc({ workflow: started.workflow, state: finished.runState });
      const entry = this.options.workflows.workflows.get(started.workflow);
      ready.push(...(await this.store.startQueuedRuns(started.workflow, entry?.workflow.maxActiveRuns ?? 1)));
    }
    await this.queues.enqueue(ready);
  }

  /** Stops taking tasks; running tasks get `stopGraceMs` to finish, then are stopped and queued to run again. */
  async stop(): Promise<void> {
    const grace = setTimeout(() => this.abort.abort(), this.options.stopGraceMs ?? 10_000);
    try {
      await Promise.all(this.bullWorkers.map((bull) => bull.close()));
    } finally {
      clearTimeout(grace);
      this.abort.abort();
      await this.threads.close();
      await this.queues.close();
      for (const connection of this.connections) connection.disconnect();
      this.redis.disconnect();
      this.log.info('workflow worker stopped');
    }
  }
}

function describeOutcome(ended: AttemptOutcome): string {
  switch (ended.outcome) {
    case 'success':
      return 'succeeded';
    case 'failed':
      return `failed: ${ended.error}`;
    case 'retry':
      return `failed, retrying at ${new Date(ended.readyAtMs).toISOString()}: ${ended.error}`;
    case 'poke':
      return `not yet${ended.note ? ` (${ended.note})` : ''}; looking again at ${new Date(ended.readyAtMs).toISOString()}`;
  }
}
