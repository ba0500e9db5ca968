import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { createRedisClient } from '../../shared/clients/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { loadWorkflows, RunStore, TaskQueues, triggerRun, WorkflowWorker, type RunRecord, type WorkflowCatalog } from '../../workflows/index.ts';
import { tempDir, testConfig, testLogger, waitFor } from '../harness/index.ts';
import { runFinished, traceLines } from '../harness/workflows.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/workflows', import.meta.url));

describe('workflows on BullMQ, with the DAG state in Redis', () => {
  const scratch = tempDir('braid-workflows-');
  const traceFile = path.join(scratch.path, 'trace.txt');
  const config = testConfig({ 'workflows.dir': FIXTURES, 'workflows.pools': { duckdb: 2 }, 'views.includeDemo': false });
  const redis = createRedisClient(config.redis.url, { name: 'workflows-test' });
  const store = new RunStore(redis, config.redis.keyPrefix);
  const queues = new TaskQueues(config, store.keys);
  let workflows: WorkflowCatalog;
  let worker: WorkflowWorker;

  beforeAll(async () => {
    writeFileSync(traceFile, '');
    // Task threads read it when they start.
    process.env.BRAID_TEST_SCRATCH = traceFile;
    workflows = await loadWorkflows(config, await loadCatalog(config));
    worker = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('workflows-test'), concurrency: 6 });
  });

  afterAll(async () => {
    await worker?.stop();
    await queues.close();
    redis.disconnect();
    scratch[Symbol.dispose]();
  });

  const trace = () => traceLines(traceFile);

  async function runToEnd(workflow: string, startMs: number): Promise<RunRecord> {
    const { runId } = await triggerRun(store, queues, workflows.get(workflow), { intervalStartMs: startMs, intervalEndMs: startMs + 3_600_000 });
    return runFinished(store, runId);
  }

  const byId = (run: RunRecord) => Object.fromEntries(run.tasks.map((task) => [task.id, task]));

  it('runs a fan-out and fan-in, handing each task its upstream results, and logs each attempt', async () => {
    const run = await runToEnd('diamond', Date.parse('2026-12-01T00:00:00Z'));
    expect(run.state).toBe('success');
    const tasks = byId(run);
    expect(tasks.extract!.result).toEqual({ rows: 10, from: Date.parse('2026-12-01T00:00:00Z') });
    expect(tasks.join!.result).toEqual({ total: 25 });
    expect(tasks.join!.startedAtMs!).toBeGreaterThanOrEqual(Math.max(tasks.left!.endedAtMs!, tasks.right!.endedAtMs!));
    const log = (await store.readLog(run.id, 'join', 1)).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(log.find((line) => line.msg === 'joining')).toMatchObject({ run: run.id, task: 'join', attempt: 1, inputs: ['left', 'right'] });
  });

  it('counts a lost attempt: a running task whose job vanished starts again as its next attempt, the lost one fenced off', async () => {
    const startMs = Date.parse('2026-12-06T00:00:00Z');
    // Not queued: this test plays the worker that dies.
    const created = await store.createRun(workflows.get('diamond').workflow, { startMs, endMs: startMs + 3_600_000 }, 'manual');
    if ('notLeader' in created) throw new Error('a manual run needs no lease');
    const [extract] = created.ready;
    const first = await store.startAttempt(created.runId, extract!.task, extract!.seq, 'doomed-worker');
    if ('skipped' in first) throw new Error(first.skipped);
    const again = await store.requeueLost(created.runId, extract!.task, first.token);
    expect(again).toMatchObject({ task: 'extract', seq: extract!.seq + 1 });
    const second = await store.startAttempt(created.runId, extract!.task, again!.seq, 'rescuer');
    if ('skipped' in second) throw new Error(second.skipped);
    expect({ first: first.attempt, second: second.attempt }).toEqual({ first: 1, second: 2 });
    expect(await store.finishAttempt(created.runId, 'diamond', 'extract', first.token, { outcome: 'success', result: null })).toMatchObject({ accepted: false });
    expect(await store.finishAttempt(created.runId, 'diamond', 'extract', second.token, { outcome: 'failed', error: 'stopped here' })).toMatchObject({ accepted: true });
  });

  it('publishes every task end and the run end', async () => {
    const subscriber = createRedisClient(config.redis.url, { name: 'workflows-test-events' });
    const events: Array<Record<string, unknown>> = [];
    subscriber.on('message', (_channel: string, message: string) => events.push(JSON.parse(message) as Record<string, unknown>));
    await subscriber.subscribe(store.keys.events());
    try {
      const startMs = Date.parse('2026-12-05T00:00:00Z');
      const created = await store.createRun(workflows.get('diamond').workflow, { startMs, endMs: startMs + 3_600_000 }, 'manual');
      if ('notLeader' in created) throw new Error('a manual run needs no lease');
      await queues.enqueue(created.ready);
      const run = await runFinished(store, created.runId);
      expect(run.state).toBe('success');
      expect(byId(run).join!.result).toEqual({ total: 25 });
      await waitFor(() => events.some((event) => event.runId === created.runId && event.type === 'run' && event.state === 'success'), { timeoutMs: 5_000, what: 'the run end event' });
      const ofRun = events.filter((event) => event.runId === created.runId);
      expect(ofRun.filter((event) => event.type === 'task').map((event) => `${String(event.task)}:${String(event.state)}`).sort()).toEqual([
        'extract:success',
        'join:success',
        'left:success',
        'right:success',
      ]);
      expect(ofRun.filter((event) => event.type === 'run').map((event) => event.state)).toEqual(['running', 'success']);
      expect(ofRun.every((event) => event.workflow === 'diamond')).toBe(true);
    } finally {
      subscriber.disconnect();
    }
  });

  it('retries with backoff, does not retry what cannot succeed, and applies each trigger rule', async () => {
    const run = await runToEnd('rules', Date.parse('2026-12-02T00:00:00Z'));
    const tasks = byId(run);
    expect(run.state).toBe('failed');
    expect(tasks.flaky).toMatchObject({ state: 'success', attempt: 3, result: { attempt: 3 } });
    const attempts = trace().filter(([what]) => what!.startsWith('flaky-attempt'));
    expect(attempts.map(([what]) => what)).toEqual(['flaky-attempt-1', 'flaky-attempt-2', 'flaky-attempt-3']);
    // Backoff: 100 ms, then 200 ms (each with up to 20 % jitter), between attempts.
    expect(Number(attempts[1]![1]) - Number(attempts[0]![1])).toBeGreaterThanOrEqual(100);
    expect(Number(attempts[2]![1]) - Number(attempts[1]![1])).toBeGreaterThanOrEqual(200);
    expect(tasks.broken).toMatchObject({ state: 'failed', attempt: 1 });
    expect(tasks.broken!.error).toMatch(/the input is malformed \(not retried\)/);
    expect(tasks.after_broken!.state).toBe('upstream_failed');
    expect(tasks.after_both_ok).toMatchObject({ state: 'success', result: { saw: ['flaky'] } });
    expect(tasks.alert).toMatchObject({ state: 'success', result: 'alerted' });
    expect(tasks.no_alert!.state).toBe('skipped');
    expect(tasks.guarded!.state).toBe('upstream_failed');
    expect(tasks.any_success).toMatchObject({ state: 'success', result: 'one was enough' });
  });

  it('a task past its timeout is stopped: its work stops, it fails', async () => {
    const run = await runToEnd('slow', Date.parse('2026-12-03T00:00:00Z'));
    expect(byId(run).forever).toMatchObject({ state: 'failed' });
    expect(byId(run).forever!.error).toMatch(/timed out after 600 ms; its thread was stopped/);
    // Its signal aborts, and 100 ms later its thread is stopped.
    await waitFor(() => trace().some(([what]) => what === 'aborted'), { timeoutMs: 2_000, what: "the task's signal to abort" });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const ticks = () => trace().filter(([what]) => what === 'tick').length;
    const atFailure = ticks();
    expect(atFailure).toBeGreaterThan(5);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(ticks()).toBe(atFailure);
  });

  it('runs a command with the interval and its output in the log; past its timeout, its process group is killed', async () => {
    const run = await runToEnd('commands', Date.parse('2026-12-05T00:00:00Z'));
    const tasks = byId(run);
    expect(tasks.stamp).toMatchObject({ state: 'success', result: { exitCode: 0 } });
    expect(trace().find(([what]) => what === 'stamp')?.[1]).toBe('2026-12-05T00:00:00.000Z');
    expect((await store.readLog(run.id, 'stamp', 1)).map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('stamped');
    expect(tasks.endless).toMatchObject({ state: 'failed' });
    expect(tasks.endless!.error).toMatch(/timed out after 600 ms; its process group was killed/);
    const ticks = () => trace().filter(([what]) => what === 'cmdtick').length;
    const atFailure = ticks();
    expect(atFailure).toBeGreaterThan(3);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(ticks()).toBe(atFailure);
  });

  it('never runs more of a pool\'s tasks at once than its slots', async () => {
    const run = await runToEnd('pooled', Date.parse('2026-12-04T00:00:00Z'));
    expect(run.state).toBe('success');
    const events = trace()
      .filter(([what]) => what === 'begin' || what === 'end')
      .map(([what, , at]) => ({ delta: what === 'begin' ? 1 : -1, at: Number(at) }))
      .sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let most = 0;
    for (const event of events) {
      running += event.delta;
      most = Math.max(most, running);
    }
    expect(events).toHaveLength(12);
    expect(most).toBe(2);
  });
});
