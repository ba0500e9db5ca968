import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deleteTopics, tempDir, testEnv, testKafka, testRedis, uniqueName, waitFor } from '../harness/index.ts';

const BRAID = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));

describe('npm start (npx braid dev)', () => {
  it('brings the platform up; its printed sample query answers with rows from both layers; Ctrl-C stops it cleanly', async () => {
    await using redis = testRedis();
    using dir = tempDir('braid-dev-');
    const topic = uniqueName('dev-clicks');
    const configFile = path.join(dir.path, 'braid.config.yaml');
    writeFileSync(
      configFile,
      [
        `kafka:\n  clientId: ${uniqueName('dev')}`,
        `redis:\n  keyPrefix: "${redis.prefix}"`,
        `dataDir: ${path.join(dir.path, 'data')}`,
        `archive:\n  flushIntervalMs: 2s`,
        `serving:\n  port: 0`,
        `sources:\n  clickstream:\n    topic: ${topic}\n    partitions: 2`,
        '',
      ].join('\n'),
    );
    const dev = spawn(process.execPath, [BRAID, '--config', configFile, 'dev', '--rate', '200', '--recompute-every', '10s'], {
      env: testEnv({ BRAID_LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    dev.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
    try {
      await waitFor(async () => /\[dev\] in \d+ ev\/s .* recompute \S+ success \d+s ago \(page_views v\d+ cutoff/.test(stderr), { timeoutMs: 150_000, intervalMs: 500, what: 'a recompute run in the status line' }).catch((error: Error) => {
        throw new Error(`${error.message}:\n${stderr}`);
      });
      const graphqlUrl = /GraphiQL +(http:\/\/\S+\/graphql)/.exec(stderr)?.[1];
      const sample = /-d '(\{"query".*\})'/.exec(stderr)?.[1];
      expect(graphqlUrl, stderr).toBeDefined();
      expect(sample, stderr).toBeDefined();
      const answer = (await (await fetch(graphqlUrl!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sample })).json()) as {
        data: { pageViews: { rows: Array<{ views: number }>; meta: { layers: string[]; batchVersion: number; partial: boolean } } };
      };
      expect(answer.data.pageViews.meta.layers).toEqual(['BATCH', 'SPEED']);
      expect(answer.data.pageViews.meta.batchVersion).toBeGreaterThanOrEqual(1);
      expect(answer.data.pageViews.rows.length).toBeGreaterThan(0);
      expect(answer.data.pageViews.rows.every((row) => row.views > 0)).toBe(true);
      // The workflows (Braid's own recompute) over HTTP, anonymous reads in development mode.
      const workflowsUrl = /Workflows +(http:\/\/\S+\/v1\/workflows)/.exec(stderr)?.[1];
      expect(workflowsUrl, stderr).toBeDefined();
      const workflows = (await (await fetch(workflowsUrl!)).json()) as { workflows: Array<{ name: string; schedule: string }> };
      expect(workflows.workflows).toContainEqual(expect.objectContaining({ name: 'recompute', schedule: '*/10 * * * * *', lastRun: expect.objectContaining({ state: expect.stringMatching(/success|running|queued/) }) }));
      // A status line counts those requests: a rate above zero.
      const linesBefore = stderr.split('\n').length;
      await waitFor(async () => stderr.split('\n').slice(linesBefore - 1).some((line) => /^\[dev\] in .* (0\.[1-9]|[1-9]\d*\.\d) req\/s$/.test(line)), { timeoutMs: 10_000, what: 'a status line counting the requests' });
    } finally {
      dev.kill('SIGINT');
      await deleteTopics(testKafka(), [topic, `${topic}.dlq`, `${topic}.late`]);
    }
    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/SIGINT: stopping/);
    expect(stderr).toMatch(/Stopped\.\n/);
  }, 240_000);
});
