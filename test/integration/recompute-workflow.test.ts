import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentVersion, readBatchView } from '../../batch/index.ts';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { countryMinutes, pageViews, userSessions } from '../../shared/views/index.ts';
import { loadWorkflows, planBackfill, RECOMPUTE_WORKFLOW, runBackfill, WorkflowAdmin, WorkflowWorker } from '../../workflows/index.ts';
import { archiveUntil, createTopic, firstDifference, produceClickstream, runBraid, tempDir, testConfig, testEnv, testKafka, testLogger, uniqueName } from '../harness/index.ts';

const START_MS = Date.parse('2026-05-01T00:00:00Z');
const HOUR_MS = 3_600_000;

describe("Braid's recompute workflow", () => {
  it('backfilled over the demo data, three runs at once, publishes the same views as npx braid recompute', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'recompute-workflow', partitions: 2 });
    using dir = tempDir('braid-recompute-workflow-');
    const dags = path.join(dir.path, 'dags');
    mkdirSync(dags);
    const settings = {
      'kafka.clientId': uniqueName('recompute-workflow'),
      'sources.clickstream.topic': topic.topic,
      'archive.flushIntervalMs': 200,
      'workflows.dir': dags,
    };
    const config = testConfig({ ...settings, dataDir: path.join(dir.path, 'workflow') });
    // Four hours of events; the hourly runs of the first three hours have their data complete.
    await produceClickstream(kafka, topic.topic, {
      partitions: 2,
      generator: { seed: 7, disorderMs: 3_000, lateFraction: 0, users: 300, urls: 40 },
      count: 4_000,
      startMs: START_MS,
      spanMs: 4 * HOUR_MS,
    });
    await archiveUntil(config, kafka, topic.topic, 4_000);
    // The same master dataset for `npx braid recompute`, in a folder (and Redis keys) of its own.
    const cliDataDir = path.join(dir.path, 'cli');
    cpSync(path.join(config.dataDir, 'master'), path.join(cliDataDir, 'master'), { recursive: true });

    const workflows = await loadWorkflows(config, await loadCatalog(config));
    expect(workflows.get(RECOMPUTE_WORKFLOW).workflow.tasks.map((task) => task.id)).toEqual([
      'wait_for_clickstream',
      'compact_clickstream',
      'recompute_page_views',
      'recompute_country_minutes',
      'recompute_user_sessions',
    ]);
    const worker = await WorkflowWorker.start({ config, workflows, logger: testLogger, registry: createMetricsRegistry('recompute-workflow'), concurrency: 4 });
    const admin = WorkflowAdmin.open(config, workflows);
    let cutoffMs: number;
    try {
      const plan = await planBackfill(admin, RECOMPUTE_WORKFLOW, { fromMs: START_MS, toMs: START_MS + 3 * HOUR_MS, reprocess: 'none' });
      const result = await runBackfill(admin, plan, { maxActive: 3, retentionMs: HOUR_MS });
      const runs = await admin.runs(RECOMPUTE_WORKFLOW, 10);
      expect(result, JSON.stringify(runs.map((run) => run.tasks.map((task) => [task.id, task.state, task.error])))).toMatchObject({ succeeded: 3, failed: 0 });
      // Each run recomputed its own hour; the cutoff ends at the last interval's end (a minute window boundary).
      const last = await admin.run(plan.items.at(-1)!.runId);
      const published = last.tasks.find((task) => task.id === 'recompute_page_views')!.result as { cutoff: string };
      cutoffMs = Date.parse(published.cutoff);
      expect(cutoffMs).toBe(START_MS + 3 * HOUR_MS);
    } finally {
      await worker.stop();
      await admin.close();
    }

    const configFile = path.join(dir.path, 'braid.config.yaml');
    writeFileSync(configFile, `dataDir: ${cliDataDir}\nredis:\n  keyPrefix: "${uniqueName('recompute-cli')}:"\n`);
    const cli = await runBraid(['--config', configFile, 'recompute', '--cutoff', new Date(cutoffMs).toISOString()], { env: testEnv() });
    expect(cli.code, cli.stderr).toBe(0);

    const range = { fromMs: START_MS - HOUR_MS, toMs: START_MS + 5 * HOUR_MS };
    for (const view of [pageViews, countryMinutes, userSessions]) {
      const byWorkflow = await readBatchView(config.dataDir, view, range);
      const byCli = await readBatchView(cliDataDir, view, range);
      expect(byWorkflow.rows.length, view.name).toBeGreaterThan(0);
      expect(firstDifference(view.name, byWorkflow.rows, byCli.rows)).toBe('');
      // Three runs, three versions (sessions recompute in full each time); the CLI made one.
      expect(currentVersion(config.dataDir, view.name)).toBe(3);
      expect(currentVersion(cliDataDir, view.name)).toBe(1);
    }
  });
});
