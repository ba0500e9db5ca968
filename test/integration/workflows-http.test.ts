import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { hashApiKey, startServer, type RunningServer } from '../../serving/index.ts';
import { loadWorkflows, WorkflowWorker } from '../../workflows/index.ts';
import { runBraid, tempDir, testConfig, testEnv, testLogger, testRedis, waitFor } from '../harness/index.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/workflows-http', import.meta.url));
const ADMIN_KEY = 'brd_workflows-admin-key';
const READER_KEY = 'brd_workflows-reader-key';

/** A JSON answer, its shape checked by the assertions. */
type Json = Record<string, any>;

describe('/v1/workflows: the workflows over HTTP', () => {
  const scratch = tempDir('braid-workflows-http-');
  const gate = path.join(scratch.path, 'gate');
  const redis = testRedis();
  const config = testConfig({
    'redis.keyPrefix': redis.prefix,
    dataDir: path.join(scratch.path, 'data'),
    'serving.port': 0,
    'workflows.dir': FIXTURES,
    'serving.auth.anonymous': true,
    'serving.auth.apiKeys': [
      { name: 'ops', sha256: hashApiKey(ADMIN_KEY), roles: ['admin'] },
      { name: 'console', sha256: hashApiKey(READER_KEY), roles: ['reader'] },
    ],
    'serving.auth.roles': { admin: ['*'], reader: ['*'] },
  });
  let server: RunningServer;
  let worker: WorkflowWorker;

  beforeAll(async () => {
    // Task threads read it when they start.
    process.env.BRAID_TEST_GATE = gate;
    const catalog = await loadCatalog(config);
    const workflows = await loadWorkflows(config, catalog);
    server = await startServer({ config, views: catalog.views, workflows, logger: testLogger });
    worker = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('workflows-http-test'), concurrency: 2 });
  });

  afterAll(async () => {
    await worker?.stop();
    await server?.close();
    await redis[Symbol.asyncDispose]();
    scratch[Symbol.dispose]();
  });

  async function call(method: 'GET' | 'POST', url: string, options: { key?: string; body?: unknown } = {}): Promise<{ status: number; body: Json; headers: Headers }> {
    const response = await fetch(`${server.url}${url}`, {
      method,
      headers: { ...(options.key ? { 'x-api-key': options.key } : {}), ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    });
    return { status: response.status, body: (await response.json()) as Json, headers: response.headers };
  }

  const finished = (workflow: string, runId: string) =>
    waitFor(
      async () => {
        const { body } = await call('GET', `/v1/workflows/${workflow}/runs/${runId}`);
        return body.state === 'success' || body.state === 'failed' ? body : undefined;
      },
      { timeoutMs: 30_000, what: `run ${runId} to finish` },
    );

  it('lists the workflows and shows one with its tasks and edges', async () => {
    const list = await call('GET', '/v1/workflows', { key: READER_KEY });
    expect(list.status).toBe(200);
    const byName = Object.fromEntries((list.body.workflows as Json[]).map((workflow) => [workflow.name, workflow]));
    expect(Object.keys(byName)).toEqual(['recompute', 'quick', 'gated']);
    expect(byName.quick).toMatchObject({ description: 'two quick tasks that log', schedule: '0 * * * *', timeZone: 'UTC', paused: false, activeRuns: 0, tasks: 2, lastRun: null });
    expect(byName.quick!.file).toBe('quick.ts');
    // The end of the next hourly interval: the next full hour.
    const nextRunAt = Date.parse(byName.quick!.nextRunAt as string);
    expect(nextRunAt % 3_600_000).toBe(0);
    expect(nextRunAt).toBeGreaterThan(Date.now());
    expect(byName.gated).toMatchObject({ schedule: null, nextRunAt: null });

    const show = await call('GET', '/v1/workflows/quick');
    expect(show.status).toBe(200);
    expect(show.body).toMatchObject({ name: 'quick', maxActiveRuns: 1, catchup: false });
    expect(show.body.taskList).toEqual([
      expect.objectContaining({ id: 'extract', runs: 'function', dependsOn: [], downstream: ['load'], trigger: 'all_success', pool: 'default' }),
      expect.objectContaining({ id: 'load', runs: 'function', dependsOn: ['extract'], downstream: [] }),
    ]);
  });

  it('an admin triggers a run, which completes; its runs and the run itself show the tasks, their results and log lines', async () => {
    const triggered = await call('POST', '/v1/workflows/quick/trigger', { key: ADMIN_KEY });
    expect(triggered.status).toBe(201);
    const runId = triggered.body.runId as string;
    expect(runId).toMatch(/^quick\.\d{8}T\d{2}0000Z$/);
    expect(triggered.headers.get('location')).toBe(`/v1/workflows/quick/runs/${runId}`);

    const run = await finished('quick', runId);
    expect(run).toMatchObject({ id: runId, workflow: 'quick', trigger: 'manual', state: 'success', attempts: 2, taskStates: { success: 2 } });
    expect(Date.parse(run.interval.end) - Date.parse(run.interval.start)).toBe(3_600_000);
    expect(run.durationMs).toBe(Date.parse(run.endedAt) - Date.parse(run.startedAt));
    const [extract, load] = run.tasks as Json[];
    expect(extract).toMatchObject({ id: 'extract', state: 'success', attempt: 1, result: { rows: 3 }, error: null });
    expect(load).toMatchObject({ id: 'load', state: 'success', attempt: 1, result: { loaded: 3 } });
    expect(load!.durationMs).toBeGreaterThanOrEqual(0);
    expect(extract!.log).toContainEqual(expect.objectContaining({ level: 'info', msg: 'extracting', from: run.interval.start, run: runId, task: 'extract', attempt: 1 }));
    expect(load!.log).toContainEqual(expect.objectContaining({ msg: 'loaded', rows: 3 }));

    const runs = await call('GET', '/v1/workflows/quick/runs?limit=5');
    expect(runs.status).toBe(200);
    expect(runs.body.runs).toEqual([expect.objectContaining({ id: runId, state: 'success', interval: run.interval, durationMs: run.durationMs, attempts: 2 })]);
    const listed = (await call('GET', '/v1/workflows')).body.workflows as Json[];
    expect(listed.find((workflow) => workflow.name === 'quick')!.lastRun).toEqual({ id: runId, state: 'success', interval: run.interval, endedAt: run.endedAt });

    // The same interval again is refused, naming the run; an instant that is no firing of the schedule names the argument.
    const again = await call('POST', '/v1/workflows/quick/trigger', { key: ADMIN_KEY, body: { intervalStart: run.interval.start } });
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: 'BAD_ARGUMENT', run: runId });
    expect(again.body.error.message).toMatch(/exists \(success\)/);
    const offGrid = await call('POST', '/v1/workflows/quick/trigger', { key: ADMIN_KEY, body: { intervalStart: '2026-03-01T10:30:00Z' } });
    expect(offGrid.status).toBe(400);
    expect(offGrid.body.error).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'intervalStart' });
  });

  it('retries a failed run, its failed tasks only', async () => {
    const triggered = await call('POST', '/v1/workflows/gated/trigger', { key: ADMIN_KEY, body: { intervalStart: '2026-03-01T00:00:00Z', intervalEnd: '2026-03-02T00:00:00Z' } });
    expect(triggered.status).toBe(201);
    const runId = triggered.body.runId as string;
    const failed = await finished('gated', runId);
    expect(failed).toMatchObject({ state: 'failed', interval: { start: '2026-03-01T00:00:00.000Z', end: '2026-03-02T00:00:00.000Z' }, taskStates: { success: 1, failed: 1 } });
    expect(failed.tasks[1]).toMatchObject({ id: 'publish', state: 'failed' });
    expect(failed.tasks[1].error).toMatch(/the gate file is missing/);

    writeFileSync(gate, '');
    const retried = await call('POST', `/v1/workflows/gated/runs/${runId}/retry`, { key: ADMIN_KEY, body: { failedOnly: true } });
    expect(retried.status).toBe(200);
    expect(retried.body.runId).toBe(runId);
    const done = await finished('gated', runId);
    expect(done).toMatchObject({ state: 'success', trigger: 'retry' });
    // `prepare` did not run again.
    expect(done.tasks[0]).toMatchObject({ id: 'prepare', result: 'prepared', endedAt: failed.tasks[0].endedAt });
    expect(done.tasks[1]).toMatchObject({ id: 'publish', state: 'success', result: 'published' });
  });

  it('only the admin role triggers, retries and pauses: anonymous and other roles get 403 naming the role', async () => {
    for (const key of [undefined, READER_KEY]) {
      for (const url of ['/v1/workflows/quick/trigger', '/v1/workflows/quick/pause', '/v1/workflows/quick/unpause', '/v1/workflows/gated/runs/gated.20260301T000000Z/retry']) {
        const refused = await call('POST', url, key ? { key } : {});
        expect(refused.status, `${url} as ${key ?? 'anonymous'}`).toBe(403);
        expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', role: 'admin' });
        expect(refused.body.error.message).toMatch(/needs the admin role/);
      }
    }
    expect((await call('POST', '/v1/workflows/quick/trigger')).body.error.message).toMatch(/^an anonymous caller may not trigger workflows/);
    expect((await call('POST', '/v1/workflows/quick/trigger', { key: READER_KEY })).body.error.message).toMatch(/^console \(roles: reader\)/);
    expect((await call('POST', '/v1/workflows/quick/trigger', { key: 'brd_wrong' })).status).toBe(401);
  });

  it('names what is unknown (404) and every bad argument (400)', async () => {
    const unknown = await call('GET', '/v1/workflows/nosuch');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'NOT_FOUND', workflow: 'nosuch', message: 'unknown workflow "nosuch"' });
    expect(unknown.body.error.hint).toMatch(/known workflows: recompute, quick, gated/);
    for (const [method, url] of [
      ['GET', '/v1/workflows/nosuch/runs'],
      ['POST', '/v1/workflows/nosuch/trigger'],
      ['POST', '/v1/workflows/nosuch/pause'],
    ] as const) {
      const answer = await call(method, url, { key: ADMIN_KEY });
      expect(answer.status, url).toBe(404);
      expect(answer.body.error, url).toMatchObject({ code: 'NOT_FOUND', workflow: 'nosuch' });
    }
    // A run of another workflow, or none.
    const quickRun = ((await call('GET', '/v1/workflows/quick/runs')).body.runs as Json[])[0]!.id as string;
    const elsewhere = await call('GET', `/v1/workflows/gated/runs/${quickRun}`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.error).toMatchObject({ code: 'NOT_FOUND', workflow: 'gated', run: quickRun });
    expect((await call('POST', '/v1/workflows/quick/runs/quick.19990101T000000Z/retry', { key: ADMIN_KEY })).status).toBe(404);

    for (const limit of ['0', '1001', 'ten', '2.5']) {
      const bad = await call('GET', `/v1/workflows/quick/runs?limit=${limit}`);
      expect(bad.status, limit).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'limit' });
      expect(bad.body.error.message).toMatch(/argument `limit` must be a whole number from 1 to 1000/);
    }
    expect((await call('GET', `/v1/workflows/quick/runs/${quickRun}?logTail=0`)).body.error).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'logTail' });

    const bodies: Array<[unknown, string]> = [
      [{ intervalStart: 'soon' }, 'intervalStart'],
      [{ intervalStart: '2026-03-01T00:00:00Z', intervalEnd: '2026-02-01T00:00:00Z' }, 'intervalEnd'],
      [{ intervalStart: 5 }, 'intervalStart'],
      [{ from: '2026-03-01T00:00:00Z' }, 'from'],
      ['{not json', 'body'],
      [[1, 2], 'body'],
    ];
    for (const [body, argument] of bodies) {
      const bad = await call('POST', '/v1/workflows/gated/trigger', { key: ADMIN_KEY, body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.error, JSON.stringify(body)).toMatchObject({ code: 'BAD_ARGUMENT', argument });
    }
    const scheduledEnd = await call('POST', '/v1/workflows/quick/trigger', { key: ADMIN_KEY, body: { intervalStart: '2026-03-01T10:00:00Z', intervalEnd: '2026-03-01T12:00:00Z' } });
    expect(scheduledEnd.body.error).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'intervalEnd' });
    expect(scheduledEnd.body.error.message).toMatch(/its schedule \(0 \* \* \* \*\) sets where an interval ends/);
    const retryBody = await call('POST', `/v1/workflows/quick/runs/${quickRun}/retry`, { key: ADMIN_KEY, body: { failedOnly: 'yes' } });
    expect(retryBody.body.error).toMatchObject({ code: 'BAD_ARGUMENT', argument: 'failedOnly' });

    const noRoute = await call('GET', '/v1/nosuch');
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error.message).toMatch(/try \/, \/graphql, \/v1\/views, \/v1\/workflows,/);
  });

  it('pauses and unpauses: the list shows it', async () => {
    const quick = async () => ((await call('GET', '/v1/workflows')).body.workflows as Json[]).find((workflow) => workflow.name === 'quick')!;
    const paused = await call('POST', '/v1/workflows/quick/pause', { key: ADMIN_KEY });
    expect(paused).toMatchObject({ status: 200, body: { workflow: 'quick', paused: true } });
    expect(await quick()).toMatchObject({ paused: true, nextRunAt: null });
    expect((await call('POST', '/v1/workflows/quick/unpause', { key: ADMIN_KEY })).body).toEqual({ workflow: 'quick', paused: false });
    expect(await quick()).toMatchObject({ paused: false, nextRunAt: expect.any(String) });
  });

  it('npx braid serve fails at start naming a workflow module that does not load', async () => {
    using dir = tempDir();
    const broken = path.join(dir.path, 'broken.mts');
    writeFileSync(broken, "throw new Error('this workflow module is broken');\n");
    const { code, stderr } = await runBraid(['serve', '--port', '0'], { env: testEnv({ BRAID_WORKFLOWS_DIR: dir.path }), timeoutMs: 60_000 });
    expect(code).toBe(2);
    expect(stderr).toContain(`${broken}: this workflow module is broken`);
  });
});
