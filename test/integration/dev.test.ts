import { describe, expect, it } from 'vitest';
import { startBraidDev, waitFor } from '../harness/index.ts';

describe('npm start (npx braid dev)', () => {
  it('brings the platform up; its printed sample query answers with rows from both layers; Ctrl-C stops it cleanly', async () => {
    const dev = await startBraidDev({ name: 'dev' });
    const stderr = dev.stderr();
    let code: number | null;
    try {
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
      await waitFor(async () => dev.stderr().split('\n').slice(linesBefore - 1).some((line) => /^\[dev\] in .* (0\.[1-9]|[1-9]\d*\.\d) req\/s$/.test(line)), { timeoutMs: 10_000, what: 'a status line counting the requests' });
    } finally {
      code = await dev.stop();
    }
    expect(code, dev.stderr()).toBe(0);
    expect(dev.stderr()).toMatch(/SIGINT: stopping/);
    expect(dev.stderr()).toMatch(/Stopped\.\n/);
  }, 240_000);
});
