import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { createRedisClient } from '../../shared/clients/index.ts';
import { loadConfig, type Config } from '../../shared/config/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { loadWorkflows, RunStore, Scheduler, TaskQueues, triggerRun, WorkflowWorker, type RunRecord } from '../../workflows/index.ts';
import { braidEntryPoint, tempDir, testEnv, testLogger, uniqueName, waitFor } from '../harness/index.ts';
import { runFinished, traceLines } from '../harness/workflows.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/workflows', import.meta.url));

/** Config like the test stack's, for workflows of the fixtures, with short locks and leases so faults show quickly. */
function faultConfig(overrides: Record<string, unknown> = {}): Config {
  const env = testEnv({ BRAID_REDIS_KEY_PREFIX: `${uniqueName('braid-test')}:` });
  return loadConfig({ env, overrides: { 'workflows.dir': FIXTURES, 'workflows.lockDurationMs': 2_000, 'views.includeDemo': false, ...overrides } });
}

const finished = (store: RunStore, runId: string, timeoutMs = 60_000) => runFinished(store, runId, timeoutMs);

/** A worker as its own process (`npx braid worker`), for signals. */
function workerProcess(config: Config, traceFile: string): ChildProcess {
  const dir = path.dirname(traceFile);
  writeFileSync(path.join(dir, 'braid.config.yaml'), `workflows:\n  dir: ${FIXTURES}\n  lockDurationMs: 2000\nviews:\n  includeDemo: false\n`);
  return spawn(process.execPath, [braidEntryPoint, 'worker', '--concurrency', '2'], {
    cwd: dir,
    env: { ...testEnv({ BRAID_REDIS_KEY_PREFIX: config.redis.keyPrefix, REDIS_URL: config.redis.url }), BRAID_TEST_SCRATCH: traceFile },
    stdio: 'ignore',
  });
}

describe('workflows under faults', () => {
  it('a worker killed mid-task: the task runs again elsewhere and succeeds once; a frozen worker that wakes up cannot commit over the newer attempt', async () => {
    using dir = tempDir('braid-wf-faults-');
    const traceFile = path.join(dir.path, 'trace.txt');
    writeFileSync(traceFile, '');
    process.env.BRAID_TEST_SCRATCH = traceFile;
    const config = faultConfig();
    const workflows = await loadWorkflows(config, await loadCatalog(config));
    const redis = createRedisClient(config.redis.url, { name: 'faults-test' });
    const store = new RunStore(redis, config.redis.keyPrefix);
    const queues = new TaskQueues(config, store.keys);
    const scheduler = await Scheduler.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('faults-scheduler'), reconcileEveryMs: 1_000 });
    let rescuer: WorkflowWorker | undefined;
    try {
      // SIGKILL: the first attempt dies with its process.
      const victim = workerProcess(config, traceFile);
      const killed = await triggerRun(store, queues, workflows.get('killable'), { intervalStartMs: 1_000, intervalEndMs: 2_000 });
      await waitFor(() => traceLines(traceFile).some(([what, attempt]) => what === 'start' && attempt === '1'), { timeoutMs: 30_000, what: 'attempt 1 to start' });
      const exited = new Promise((resolve) => victim.once('exit', resolve));
      victim.kill('SIGKILL');
      await exited;
      rescuer = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('faults-rescuer'), concurrency: 2 });
      const afterKill = await finished(store, killed.runId);
      expect(afterKill.state).toBe('success');
      expect(afterKill.tasks[0]).toMatchObject({ state: 'success', attempt: 2, result: { attempt: 2 } });
      expect(traceLines(traceFile).filter(([what]) => what === 'commit').map(([, attempt]) => attempt)).toEqual(['2']);

      // SIGSTOP: the frozen worker's lock lapses, the task runs again; woken, its late completion is refused.
      writeFileSync(traceFile, '');
      await rescuer.stop();
      rescuer = undefined;
      const frozen = workerProcess(config, traceFile);
      const stopped = await triggerRun(store, queues, workflows.get('killable'), { intervalStartMs: 5_000, intervalEndMs: 6_000 });
      await waitFor(() => traceLines(traceFile).some(([what, attempt]) => what === 'start' && attempt === '1'), { timeoutMs: 30_000, what: 'attempt 1 to start' });
      frozen.kill('SIGSTOP');
      rescuer = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('faults-rescuer-2'), concurrency: 2 });
      const afterFreeze = await finished(store, stopped.runId);
      expect(afterFreeze.tasks[0]).toMatchObject({ state: 'success', attempt: 2, result: { attempt: 2 } });
      frozen.kill('SIGCONT');
      // The woken attempt finishes its sleep and commits its own side effect, but the run keeps attempt 2's result.
      await waitFor(() => traceLines(traceFile).some(([what, attempt]) => what === 'commit' && attempt === '1'), { timeoutMs: 15_000, what: 'the frozen attempt to wake up and end' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await store.getRun(stopped.runId))!.tasks[0]).toMatchObject({ state: 'success', attempt: 2, result: { attempt: 2 } });
      const frozenExit = new Promise((resolve) => frozen.once('exit', resolve));
      frozen.kill('SIGTERM');
      await frozenExit;
    } finally {
      await rescuer?.stop();
      await scheduler.stop();
      await queues.close();
      redis.disconnect();
    }
  });

  it('two schedulers: one acts, one run per interval; when it stops, the other takes over', async () => {
    using dir = tempDir('braid-wf-schedulers-');
    process.env.BRAID_TEST_SCRATCH = path.join(dir.path, 'trace.txt');
    const config = faultConfig();
    const workflows = await loadWorkflows(config, await loadCatalog(config));
    const only = { workflows: new Map([['every_second', workflows.get('every_second')]]), get: workflows.get };
    const redis = createRedisClient(config.redis.url, { name: 'schedulers-test' });
    const store = new RunStore(redis, config.redis.keyPrefix);
    const options = { config, workflows: only, logger: testLogger, tickMs: 200, leaseMs: 1_500 };
    const first = await Scheduler.start({ ...options, registry: createMetricsRegistry('scheduler-a') });
    const second = await Scheduler.start({ ...options, registry: createMetricsRegistry('scheduler-b') });
    try {
      await waitFor(async () => (await store.listRuns('every_second', { limit: 1_000 })).length >= 4, { timeoutMs: 20_000, what: 'runs to be created' });
      expect([first.leading, second.leading].filter(Boolean)).toHaveLength(1);
      const leader = first.leading ? first : second;
      const other = leader === first ? second : first;
      await leader.stop();
      const before = (await store.listRuns('every_second', { limit: 1_000 })).length;
      await waitFor(() => other.leading, { timeoutMs: 10_000, what: 'the other scheduler to take the lease' });
      await waitFor(async () => (await store.listRuns('every_second', { limit: 1_000 })).length >= before + 3, { timeoutMs: 20_000, what: 'runs to go on being created' });
      const runs = (await store.listRuns('every_second', { limit: 1_000 })).sort((a, b) => a.interval.startMs - b.interval.startMs);
      // One run per one-second interval, none twice (without catchup, the scheduler taking over starts at the latest interval).
      expect(new Set(runs.map((run) => run.interval.startMs)).size).toBe(runs.length);
      for (const run of runs) expect(run.interval.endMs - run.interval.startMs).toBe(1_000);
      expect(runs.every((run) => run.trigger === 'schedule')).toBe(true);
    } finally {
      await first.stop();
      await second.stop();
      redis.disconnect();
    }
  });

  it('Redis restarted mid-run (its append-only file on): the run completes', async () => {
    using dir = tempDir('braid-wf-redis-');
    process.env.BRAID_TEST_SCRATCH = path.join(dir.path, 'trace.txt');
    const port = await freePort();
    const startRedis = () => spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir.path, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    let redisServer = startRedis();
    const url = `redis://127.0.0.1:${port}`;
    const config = faultConfig({ 'redis.url': url });
    await waitFor(async () => {
      const probe = createRedisClient(url, { name: 'probe' });
      try {
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, { timeoutMs: 10_000, what: 'the private redis-server' });
    const workflows = await loadWorkflows(config, await loadCatalog(config));
    const redis = createRedisClient(url, { name: 'redis-restart-test' });
    const store = new RunStore(redis, config.redis.keyPrefix);
    const queues = new TaskQueues(config, store.keys);
    const worker = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('restart-worker'), concurrency: 2 });
    const scheduler = await Scheduler.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('restart-scheduler'), reconcileEveryMs: 1_000 });
    try {
      const { runId } = await triggerRun(store, queues, workflows.get('chain'), { intervalStartMs: 0, intervalEndMs: 1 });
      await waitFor(async () => ((await store.getRun(runId))?.tasks.filter((task) => task.state === 'success').length ?? 0) >= 2, { timeoutMs: 30_000, what: 'two steps done' });
      const down = new Promise((resolve) => redisServer.once('exit', resolve));
      redisServer.kill('SIGTERM');
      await down;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      redisServer = startRedis();
      const run = await finished(store, runId, 90_000);
      expect(run.state).toBe('success');
      expect(run.tasks.map((task) => task.result)).toEqual(Array.from({ length: 8 }, (_, step) => ({ step })));
    } finally {
      await worker.stop();
      await scheduler.stop();
      await queues.close();
      redis.disconnect();
      redisServer.kill('SIGTERM');
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
