/**
 * Workflows: the DAG scheduler's hand-off latency and no-op task throughput, next to a bare BullMQ baseline doing
 * the same hand-offs, in the same run.
 *
 * The shapes (bench/fixtures/workflows/noop.ts, the bench's `workflows.dir`), each of 100 no-op TypeScript tasks:
 * - chain: 100 tasks, each depending on the one before (99 hand-offs a run);
 * - layers (the 10 × 10 fan-out/fan-in): 10 layers of 10 tasks, every task of a layer depending on all 10 tasks of
 *   the layer before, so each step is a 10-way fan-in followed by a 10-way fan-out (90 hand-offs a run).
 *
 * Braid: `npx braid worker --concurrency 16` in child processes (the bench's config file and key prefix), runs
 * created with `triggerRun`; a run's end is seen on the workflow events channel, and every figure comes from the
 * run records (RunStore.getRun: each task's start and end, Redis's clock, whole ms).
 * Baseline: a bullmq Queue and Worker (same concurrency, lock settings and job options) in this process, whose
 * processor does nothing, then tracks dependencies the minimal way (a Redis hash of unfinished-upstream counts
 * per run, HINCRBY -1 per edge in one pipeline; a single-upstream task needs no count) and adds the downstream
 * jobs that became ready (addBulk), as Braid's worker does inside its processor. Its times are Date.now(), whole ms.
 *
 * - Hand-off latency (`handoff_*`): a task's start minus the end of its last upstream task, over runs done one at
 *   a time on one idle worker (chain and layers pooled; also per shape).
 * - Throughput (`noop_tasks_per_s`): THROUGHPUT_RUNS runs of the layered DAG triggered at once (2,000 tasks),
 *   tasks ÷ (last run's end − first run's creation); one worker and two (two processes; the two share this
 *   machine's 2 cores with Redis). The chain shape likewise (THROUGHPUT_RUNS chains side by side).
 *   `throughput_ratio` = Braid ÷ the baseline, both on one worker, on the layered DAG (best round ÷ best round;
 *   `_median`: the median of each round's ratio).
 * - Rounds alternate Braid and the baseline; the best round of each counts (a warm-up round first). CPU per task:
 *   the worker process(es) and Redis (INFO), over the best round.
 * - `worker_warm_*`: from spawning the first worker until its CPU use settles, its task threads loaded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { redisUp } from '../infra/stack/index.ts';
import { loadCatalog } from '../shared/catalog/index.ts';
import { createRedisClient, quietOnReconnect } from '../shared/clients/index.ts';
import { loadConfig, type Config } from '../shared/config/index.ts';
import { loadWorkflows, RunStore, TaskQueues, triggerRun, type RunRecord, type Workflow, type WorkflowEntry } from '../workflows/index.ts';
import { defineBenchmark, percentile } from './lib/benchmark.ts';
import { processCpuMs, redisCpuMs } from './lib/cpu-usage.ts';
import { deleteKeysWithPrefix } from './lib/redis-cleanup.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/workflows', import.meta.url));
const BRAID = fileURLToPath(new URL('../bin/braid.js', import.meta.url));
const CHAIN = 'bench_noop_chain';
const LAYERS = 'bench_noop_layers';

/** Tasks each worker runs at once (its task threads), and the baseline's Worker concurrency. */
const CONCURRENCY = 16;
/** Runs of each shape, one at a time, per side and round, for the hand-off latency. */
const LATENCY_RUNS = 3;
const LATENCY_ROUNDS = 3;
/** Runs triggered at once in a throughput round. */
const THROUGHPUT_RUNS = 20;
/** Measured throughput rounds (after one warm-up round); the best of each side counts. */
const ROUNDS = 5;
const RUN_TIMEOUT_MS = 30_000;
const WORKER_START_TIMEOUT_MS = 90_000;
/** A worker is warm once it uses less than this share of a core over IDLE_SAMPLE_MS. */
const IDLE_SAMPLE_MS = 1_000;
const IDLE_CPU_SHARE = 0.05;

// The issue's targets.
const HANDOFF_P50_TARGET_MS = 20;
const HANDOFF_P99_TARGET_MS = 100;
const RATIO_TARGET = 0.5;
const TASKS_PER_S_TARGET = 1_000;

const round = (value: number, digits = 0): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** One finished run, either side: when it was created and ended, and each task's start and end (ms). */
interface FinishedRun {
  readonly createdMs: number;
  readonly endedMs: number;
  readonly startMs: ReadonlyMap<string, number>;
  readonly endMs: ReadonlyMap<string, number>;
}

/** A batch of runs done at once, and the CPU it took. */
interface Batch {
  readonly runs: readonly FinishedRun[];
  readonly tasksPerS: number;
  /** CPU ms of the worker process(es) and of Redis. */
  readonly workerCpuMs: number;
  readonly redisCpuMs: number;
}

/** Start of a task minus the end of its last upstream task, for every task with upstream tasks. */
function handoffsOf(workflow: Workflow, run: FinishedRun): number[] {
  const handoffs: number[] = [];
  for (const task of workflow.tasks) {
    if (task.dependsOn.length === 0) continue;
    const started = run.startMs.get(task.id);
    const lastUpstream = Math.max(...task.dependsOn.map((up) => run.endMs.get(up) ?? Number.NaN));
    if (started === undefined || !Number.isFinite(lastUpstream)) throw new Error(`${workflow.name}: task ${task.id} has no start or an upstream task no end`);
    handoffs.push(started - lastUpstream);
  }
  return handoffs;
}

function tasksPerS(workflow: Workflow, runs: readonly FinishedRun[]): number {
  const first = Math.min(...runs.map((run) => run.createdMs));
  const last = Math.max(...runs.map((run) => run.endedMs));
  return (workflow.tasks.length * runs.length * 1000) / Math.max(1, last - first);
}

/** Braid's side: runs created as `braid dag trigger` does, their ends heard on the events channel. */
class BraidRuns {
  private nextStartMs = Date.UTC(2026, 0, 1);
  private readonly waiters = new Map<string, (state: string) => void>();

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly store: RunStore,
    private readonly queues: TaskQueues,
  ) {}

  static async open(config: Config): Promise<BraidRuns> {
    const redis = createRedisClient(config.redis.url, { name: 'braid-bench-workflows' });
    const subscriber = createRedisClient(config.redis.url, { name: 'braid-bench-workflows-events' });
    const store = new RunStore(redis, config.redis.keyPrefix);
    const runs = new BraidRuns(redis, subscriber, store, new TaskQueues(config, store.keys));
    await subscriber.subscribe(store.keys.events());
    subscriber.on('message', (_channel: string, message: string) => {
      const event = JSON.parse(message) as { type: string; runId: string; state: string };
      if (event.type === 'run' && (event.state === 'success' || event.state === 'failed')) runs.waiters.get(event.runId)?.(event.state);
    });
    return runs;
  }

  /** Triggers `count` runs of `entry` at once and waits for them all; returns their records. */
  async batch(entry: WorkflowEntry, count: number): Promise<FinishedRun[]> {
    // A run id names its interval's start to the second.
    const starts = Array.from({ length: count }, () => (this.nextStartMs += 1_000));
    const ends = new Map<string, Promise<string>>();
    const runIds = await Promise.all(
      starts.map(async (startMs) => {
        const { runId } = await triggerRun(this.store, this.queues, entry, { intervalStartMs: startMs, intervalEndMs: startMs + 1_000 });
        return runId;
      }),
    );
    // A run cannot end before its first task's attempt, well after the trigger returned: register now.
    for (const runId of runIds) ends.set(runId, this.waitForEnd(runId));
    const states = await Promise.all(runIds.map((runId) => ends.get(runId)!));
    const records = await Promise.all(runIds.map((runId) => this.store.getRun(runId)));
    return records.map((record, index) => {
      if (!record || states[index] !== 'success') throw new Error(`run ${runIds[index]} ended ${states[index]}: ${JSON.stringify(record?.tasks.find((task) => task.error))}`);
      return finishedRun(record);
    });
  }

  private waitForEnd(runId: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(runId);
        void this.store.getRun(runId).then((run) => {
          const states = new Map<string, string[]>();
          for (const task of run?.tasks ?? []) states.set(task.state, [...(states.get(task.state) ?? []), task.id]);
          const detail = [...states].map(([state, tasks]) => `${state}: ${tasks.length > 3 ? `${tasks.length} tasks` : tasks.join(', ')}`).join('; ');
          reject(new Error(`run ${runId} did not end within ${RUN_TIMEOUT_MS / 1000} s (run ${run?.state}; ${detail})`));
        }, reject);
      }, RUN_TIMEOUT_MS);
      this.waiters.set(runId, (state) => {
        clearTimeout(timer);
        this.waiters.delete(runId);
        resolve(state);
      });
      // It may have ended before the waiter was registered.
      void this.store.getRun(runId).then((run) => {
        if (run && (run.state === 'success' || run.state === 'failed')) this.waiters.get(runId)?.(run.state);
      });
    });
  }

  async close(): Promise<void> {
    await this.queues.close();
    this.subscriber.disconnect();
    this.redis.disconnect();
  }
}

function finishedRun(record: RunRecord): FinishedRun {
  const startMs = new Map<string, number>();
  const endMs = new Map<string, number>();
  for (const task of record.tasks) {
    if (task.startedAtMs !== null) startMs.set(task.id, task.startedAtMs);
    if (task.endedAtMs !== null) endMs.set(task.id, task.endedAtMs);
  }
  return { createdMs: record.createdAtMs, endedMs: record.endedAtMs ?? Number.NaN, startMs, endMs };
}

interface BareJob {
  readonly run: string;
  readonly task: string;
}

interface BareRunState {
  readonly workflow: Workflow;
  /** Upstream tasks of each task. */
  readonly upstreamCounts: ReadonlyMap<string, number>;
  readonly createdMs: number;
  readonly startMs: Map<string, number>;
  readonly endMs: Map<string, number>;
  done(run: FinishedRun): void;
}

/**
 * The baseline: bare BullMQ doing the same hand-offs. A job is a task of a run; its processor records the task's
 * start and end (a no-op in between), counts down its downstream tasks' unfinished upstream tasks in Redis and
 * adds the jobs of those that reached zero.
 */
class BareBullMQ {
  private readonly runs = new Map<string, BareRunState>();
  private nextRun = 0;

  private constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly queue: Queue,
    readonly worker: Worker<BareJob>,
    private readonly connections: Redis[],
  ) {}

  static async start(config: Config, keyPrefix: string): Promise<BareBullMQ> {
    // As BullMQ needs them (and as Braid's worker makes them): commands wait through reconnects.
    const connection = (name: string) => quietOnReconnect(new Redis(config.redis.url, { maxRetriesPerRequest: null, connectionName: name }));
    const [redis, queueConnection, workerConnection] = [connection('bench-bare-state'), connection('bench-bare-queue'), connection('bench-bare-worker')];
    const prefix = `${keyPrefix}bare-bull`;
    const queue = new Queue('bare', { connection: queueConnection, prefix });
    let bare: BareBullMQ | undefined;
    const worker = new Worker<BareJob>('bare', (job: Job<BareJob>) => bare!.process(job.data), {
      connection: workerConnection,
      prefix,
      concurrency: CONCURRENCY,
      lockDuration: config.workflows.lockDurationMs,
      stalledInterval: Math.max(1_000, Math.round(config.workflows.lockDurationMs / 2)),
    });
    bare = new BareBullMQ(redis, keyPrefix, queue, worker, [redis, queueConnection, workerConnection]);
    worker.on('error', (error) => process.stderr.write(`   bare BullMQ worker error: ${error.message}\n`));
    await worker.waitUntilReady();
    return bare;
  }

  private countsKey(run: string): string {
    return `${this.keyPrefix}bare:${run}`;
  }

  private async add(run: string, tasks: readonly string[]): Promise<void> {
    if (tasks.length === 0) return;
    await this.queue.addBulk(
      tasks.map((task) => ({ name: task, data: { run, task }, opts: { jobId: `${run}|${task}`, attempts: 1, removeOnComplete: true, removeOnFail: true } })),
    );
  }

  private async process({ run, task }: BareJob): Promise<void> {
    const state = this.runs.get(run)!;
    state.startMs.set(task, Date.now());
    // The no-op.
    state.endMs.set(task, Date.now());
    const downstream = state.workflow.downstream[task] ?? [];
    const ready = downstream.filter((down) => state.upstreamCounts.get(down) === 1);
    const fanIn = downstream.filter((down) => state.upstreamCounts.get(down)! > 1);
    if (fanIn.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const down of fanIn) pipeline.hincrby(this.countsKey(run), down, -1);
      const left = (await pipeline.exec()) ?? [];
      left.forEach(([error, count], index) => {
        if (error) throw error;
        if (Number(count) === 0) ready.push(fanIn[index]!);
      });
    }
    await this.add(run, ready);
    if (state.endMs.size === state.workflow.tasks.length) {
      state.done({ createdMs: state.createdMs, endedMs: Math.max(...state.endMs.values()), startMs: state.startMs, endMs: state.endMs });
    }
  }

  /** Starts `count` runs of `workflow` at once and waits for them all. */
  async batch(workflow: Workflow, count: number): Promise<FinishedRun[]> {
    const upstreamCounts = new Map(workflow.tasks.map((task) => [task.id, task.dependsOn.length]));
    const counts = Object.fromEntries([...upstreamCounts].filter(([, count]) => count > 1));
    const roots = workflow.tasks.filter((task) => task.dependsOn.length === 0).map((task) => task.id);
    return Promise.all(
      Array.from({ length: count }, async () => {
        const run = `${workflow.name}.${this.nextRun++}`;
        const finished = new Promise<FinishedRun>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`bare run ${run} did not end within ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS);
          this.runs.set(run, {
            workflow,
            upstreamCounts,
            createdMs: Date.now(),
            startMs: new Map(),
            endMs: new Map(),
            done: (result) => {
              clearTimeout(timer);
              this.runs.delete(run);
              resolve(result);
            },
          });
        });
        if (Object.keys(counts).length > 0) await this.redis.hset(this.countsKey(run), counts);
        await this.add(run, roots);
        return finished;
      }),
    );
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    for (const connection of this.connections) connection.disconnect();
  }
}

/** `npx braid worker` as a child process, with the bench's config file and key prefix; resolves once it takes tasks. */
async function startWorkerProcess(dir: string, redisUrl: string, keyPrefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BRAID, 'worker', '--concurrency', String(CONCURRENCY)], {
    cwd: dir,
    env: { ...process.env, REDIS_URL: redisUrl, BRAID_REDIS_KEY_PREFIX: keyPrefix, BRAID_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start within ${WORKER_START_TIMEOUT_MS / 1000} s:\n${output}`)), WORKER_START_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/^worker \S+: \d+ at once/m.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited (code ${code}) before it started:\n${output}`));
    });
  });
  return child;
}

/**
 * Waits until a started worker's task threads are warm: each loads its code (tsx, Braid's task modules) after the
 * worker reports it started, about a CPU-second or two per thread. Returns the CPU ms the process has used.
 */
async function waitUntilIdle(pid: number): Promise<number> {
  const deadline = Date.now() + WORKER_START_TIMEOUT_MS;
  let last = processCpuMs(pid);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const now = processCpuMs(pid);
    if (now - last < IDLE_SAMPLE_MS * IDLE_CPU_SHARE) return now;
    last = now;
  }
  throw new Error(`worker ${pid} still busy ${WORKER_START_TIMEOUT_MS / 1000} s after it started`);
}

async function stopWorkerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Runs `work` and measures the CPU of `pids` (this process for none) and Redis meanwhile. */
async function withCpu(redis: Redis, pids: readonly number[], work: () => Promise<readonly FinishedRun[]>, workflow: Workflow): Promise<Batch> {
  const ownCpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const workerCpu = () => (pids.length === 0 ? ownCpu() : pids.reduce((sum, pid) => sum + processCpuMs(pid), 0));
  const [workerBefore, redisBefore] = [workerCpu(), await redisCpuMs(redis)];
  const runs = await work();
  const [workerAfter, redisAfter] = [workerCpu(), await redisCpuMs(redis)];
  return { runs, tasksPerS: tasksPerS(workflow, runs), workerCpuMs: workerAfter - workerBefore, redisCpuMs: redisAfter - redisBefore };
}

const best = (batches: readonly Batch[]): Batch => batches.reduce((a, b) => (b.tasksPerS > a.tasksPerS ? b : a));

export default defineBenchmark({
  name: 'workflows',
  description: `hand-off latency and no-op tasks/s of the workflow engine (a chain of 100, 10 × 10 layers) vs bare BullMQ`,
  async run({ progress }) {
    const { redisUrl } = await redisUp(loadConfig(), progress);
    const keyPrefix = `bench-workflows-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}:`;
    const dir = mkdtempSync(join(tmpdir(), 'braid-bench-workflows-'));
    // The workers' config file (JSON is YAML); the key prefix and Redis come from their environment.
    writeFileSync(join(dir, 'braid.config.yaml'), JSON.stringify({ workflows: { dir: FIXTURES }, views: { includeDemo: false } }));
    const config = loadConfig({ cwd: dir, overrides: { 'redis.url': redisUrl, 'redis.keyPrefix': keyPrefix } });
    const workflows = await loadWorkflows(config, await loadCatalog(config));
    const chain = workflows.get(CHAIN);
    const layers = workflows.get(LAYERS);
    const redis = createRedisClient(redisUrl, { name: 'braid-bench-workflows-cpu' });
    const braid = await BraidRuns.open(config);
    const bare = await BareBullMQ.start(config, keyPrefix);
    const workers: ChildProcess[] = [];
    const figures: Record<string, number> = {};
    try {
      progress(`Redis ${redisUrl}, keys under ${keyPrefix}; starting a worker (npx braid worker --concurrency ${CONCURRENCY})…`);
      const startWorker = async () => {
        const started = Date.now();
        const worker = await startWorkerProcess(dir, redisUrl, keyPrefix);
        workers.push(worker);
        const cpuMs = await waitUntilIdle(worker.pid!);
        const seconds = (Date.now() - started) / 1000;
        progress(`worker ${worker.pid} warm after ${seconds.toFixed(1)} s and ${(cpuMs / 1000).toFixed(1)} CPU-s (mostly its ${CONCURRENCY} task threads loading their code)`);
        figures.worker_warm_s ??= round(seconds, 1);
        figures.worker_warm_cpu_s ??= round(cpuMs / 1000, 1);
      };
      await startWorker();
      const pids = () => workers.map((worker) => worker.pid!);

      // Warm-up: every task thread loads the workflow module on its first task; BullMQ's scripts get loaded.
      for (const entry of [layers, chain]) {
        await braid.batch(entry, THROUGHPUT_RUNS);
        await bare.batch(entry.workflow, THROUGHPUT_RUNS);
      }
      progress('warmed up: a throughput round of each shape on each side');

      // Hand-off latency: one run at a time on an idle worker.
      const handoffs = { braid: { chain: [] as number[], layers: [] as number[] }, bare: { chain: [] as number[], layers: [] as number[] } };
      for (let round = 0; round < LATENCY_ROUNDS; round++) {
        for (const [shape, entry] of [['chain', chain], ['layers', layers]] as const) {
          for (let run = 0; run < LATENCY_RUNS; run++) {
            const [braidRun] = await braid.batch(entry, 1);
            handoffs.braid[shape].push(...handoffsOf(entry.workflow, braidRun!));
            const [bareRun] = await bare.batch(entry.workflow, 1);
            handoffs.bare[shape].push(...handoffsOf(entry.workflow, bareRun!));
          }
        }
      }
      const summary = (values: number[]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1)!, mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length, count: sorted.length };
      };
      const braidAll = summary([...handoffs.braid.chain, ...handoffs.braid.layers]);
      const bareAll = summary([...handoffs.bare.chain, ...handoffs.bare.layers]);
      for (const [side, label] of [['braid', 'Braid'], ['bare', 'bare BullMQ']] as const) {
        for (const shape of ['chain', 'layers'] as const) {
          const s = summary(handoffs[side][shape]);
          progress(`hand-off, ${label}, ${shape}: p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms, mean ${s.mean.toFixed(2)} ms over ${s.count}`);
          figures[`${side === 'braid' ? '' : 'bullmq_'}${shape}_handoff_p50_ms`] = s.p50;
          figures[`${side === 'braid' ? '' : 'bullmq_'}${shape}_handoff_p99_ms`] = s.p99;
        }
      }
      Object.assign(figures, {
        handoff_p50_ms: braidAll.p50,
        handoff_p99_ms: braidAll.p99,
        handoff_mean_ms: round(braidAll.mean, 2),
        bullmq_handoff_p50_ms: bareAll.p50,
        bullmq_handoff_p99_ms: bareAll.p99,
        bullmq_handoff_mean_ms: round(bareAll.mean, 2),
      });

      // Throughput on one worker, rounds alternating with the baseline.
      const tasksOf = (entry: WorkflowEntry) => entry.workflow.tasks.length * THROUGHPUT_RUNS;
      const throughput = async (entry: WorkflowEntry, withBaseline: boolean, label: string) => {
        const braidRounds: Batch[] = [];
        const bareRounds: Batch[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          braidRounds.push(await withCpu(redis, pids(), () => braid.batch(entry, THROUGHPUT_RUNS), entry.workflow));
          if (withBaseline) bareRounds.push(await withCpu(redis, [], () => bare.batch(entry.workflow, THROUGHPUT_RUNS), entry.workflow));
          progress(
            `${label}, round ${round + 1}: Braid ${Math.round(braidRounds.at(-1)!.tasksPerS)} tasks/s` +
              (withBaseline ? `, bare BullMQ ${Math.round(bareRounds.at(-1)!.tasksPerS)} tasks/s` : ''),
          );
        }
        // Each round's ratio (Braid ÷ the baseline round after it): their median is steadier than the ratio of bests.
        const ratios = bareRounds.map((bareRound, index) => braidRounds[index]!.tasksPerS / bareRound.tasksPerS).sort((a, b) => a - b);
        return { braid: best(braidRounds), bare: withBaseline ? best(bareRounds) : undefined, medianRatio: percentile(ratios, 0.5) };
      };
      const perTask = (batch: Batch, entry: WorkflowEntry) => ({
        worker: round((batch.workerCpuMs * 1000) / tasksOf(entry)),
        redis: round((batch.redisCpuMs * 1000) / tasksOf(entry)),
      });
      const describe = (name: string, batch: Batch, entry: WorkflowEntry) => {
        const cpu = perTask(batch, entry);
        return `${name} ${Math.round(batch.tasksPerS).toLocaleString()} tasks/s (CPU per task: worker ${cpu.worker} µs, Redis ${cpu.redis} µs)`;
      };

      const oneLayers = await throughput(layers, true, `${THROUGHPUT_RUNS} × layers, 1 worker`);
      const oneChain = await throughput(chain, true, `${THROUGHPUT_RUNS} × chain, 1 worker`);
      for (const [shape, result, entry] of [['layers', oneLayers, layers], ['chain', oneChain, chain]] as const) {
        progress(`${shape}, 1 worker, best of ${ROUNDS}: ${describe('Braid', result.braid, entry)}; ${describe('bare BullMQ', result.bare!, entry)}`);
      }

      progress('starting a second worker…');
      await startWorker();
      await braid.batch(layers, THROUGHPUT_RUNS);
      await braid.batch(chain, THROUGHPUT_RUNS);
      const twoLayers = await throughput(layers, false, `${THROUGHPUT_RUNS} × layers, 2 workers`);
      const twoChain = await throughput(chain, false, `${THROUGHPUT_RUNS} × chain, 2 workers`);
      progress(`2 workers, best of ${ROUNDS}: layers ${describe('Braid', twoLayers.braid, layers)}; chain ${describe('Braid', twoChain.braid, chain)}`);

      const layersCpu = perTask(oneLayers.braid, layers);
      const bareLayersCpu = perTask(oneLayers.bare!, layers);
      Object.assign(figures, {
        noop_tasks_per_s: Math.round(oneLayers.braid.tasksPerS),
        bullmq_noop_tasks_per_s: Math.round(oneLayers.bare!.tasksPerS),
        throughput_ratio: round(oneLayers.braid.tasksPerS / oneLayers.bare!.tasksPerS, 3),
        throughput_ratio_median: round(oneLayers.medianRatio, 3),
        noop_tasks_per_s_2_workers: Math.round(twoLayers.braid.tasksPerS),
        chain_noop_tasks_per_s: Math.round(oneChain.braid.tasksPerS),
        bullmq_chain_noop_tasks_per_s: Math.round(oneChain.bare!.tasksPerS),
        chain_throughput_ratio: round(oneChain.braid.tasksPerS / oneChain.bare!.tasksPerS, 3),
        chain_throughput_ratio_median: round(oneChain.medianRatio, 3),
        chain_noop_tasks_per_s_2_workers: Math.round(twoChain.braid.tasksPerS),
        worker_cpu_us_per_task: layersCpu.worker,
        redis_cpu_us_per_task: layersCpu.redis,
        bullmq_worker_cpu_us_per_task: bareLayersCpu.worker,
        bullmq_redis_cpu_us_per_task: bareLayersCpu.redis,
      });

      const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
      progress(
        `targets: hand-off p50 ${figures.handoff_p50_ms} ms < ${HANDOFF_P50_TARGET_MS} ms ${met(figures.handoff_p50_ms! < HANDOFF_P50_TARGET_MS)}; ` +
          `p99 ${figures.handoff_p99_ms} ms < ${HANDOFF_P99_TARGET_MS} ms ${met(figures.handoff_p99_ms! < HANDOFF_P99_TARGET_MS)}; ` +
          `throughput ratio ${figures.throughput_ratio} ≥ ${RATIO_TARGET} ${met(figures.throughput_ratio! >= RATIO_TARGET)}; ` +
          `${figures.noop_tasks_per_s} tasks/s on one worker ≥ ${TASKS_PER_S_TARGET} ${met(figures.noop_tasks_per_s! >= TASKS_PER_S_TARGET)}`,
      );
      return figures;
    } finally {
      await Promise.all(workers.map(stopWorkerProcess));
      await bare.close();
      await braid.close();
      const deleted = await deleteKeysWithPrefix(redis, keyPrefix).catch(() => 0);
      redis.disconnect();
      rmSync(dir, { recursive: true, force: true });
      progress(`cleaned up: ${deleted} Redis keys under ${keyPrefix}, ${dir}`);
    }
  },
});
