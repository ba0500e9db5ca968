import { describe, expect, it } from 'vitest';
import { clickstreamInSpeedLayer, testConfig, testServingApp } from '../harness/index.ts';

const MINUTE = 60_000;
type Body = { rows?: unknown[]; error?: { code: string; limit?: string; message: string } };

describe('serving: reads are bounded and charged to their caller', () => {
  it('an honest dashboard stays inside the defaults; a read past its budget, a caller past its cells per second or its concurrent reads is refused naming the limit', async () => {
    const now = Date.now();
    await using events = await clickstreamInSpeedLayer({ prefix: 'read-limits', partitions: 2, generator: { seed: 3, users: 200, urls: 30 }, count: 3_000, startMs: now - 100 * MINUTE, spanMs: 95 * MINUTE });
    // Two anonymous callers, told apart by X-Forwarded-For: the server trusts the proxy that would set it.
    const base = { ...events.config, 'serving.development': true, 'serving.trustProxy': true, 'serving.limits.requestsPerSecond': 0 };
    const from = new Date(now - 2 * 60 * MINUTE).toISOString();
    const get = async (serving: { app: { request(path: string, init?: RequestInit): Response | Promise<Response> } }, path: string, caller = 'a') => {
      const response = await serving.app.request(path, { headers: { 'x-forwarded-for': `10.0.0.${caller === 'a' ? 1 : 2}` } });
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Body };
    };

    // Defaults: a dashboard of several panels, read again and again, is answered every time.
    {
      await using serving = await testServingApp(testConfig({ ...base, 'serving.cacheEntries': 0 }));
      const panels = [
        `/v1/views/page_views?from=${from}&orderBy=-views&limit=20`,
        `/v1/views/page_views?from=${from}&granularity=1h`,
        `/v1/views/country_minutes?from=${from}`,
        `/v1/views/user_sessions?from=${from}&limit=100`,
      ];
      for (let round = 0; round < 3; round++) {
        for (const panel of panels) expect((await get(serving, panel)).status, panel).toBe(200);
      }
      const metrics = await (await serving.app.request('/metrics')).text();
      const cells = Number(/braid_serving_read_cells_total\{[^}]*view="page_views"[^}]*\} (\d+)/.exec(metrics)?.[1]);
      expect(cells).toBeGreaterThan(1_000);
    }

    // A budget of 500 cells per request: the 2-hour read by minute and URL is refused, a narrow one is answered.
    {
      await using serving = await testServingApp(testConfig({ ...base, 'serving.limits.maxCellsPerRequest': 500 }));
      const wide = await get(serving, `/v1/views/page_views?from=${from}`);
      expect(wide.status).toBe(400);
      expect(wide.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxCellsPerRequest' });
      const graphql = await serving.app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `{ pageViews(from: "${from}") { rows { url } } }` }),
      });
      const errors = ((await graphql.json()) as { errors?: Array<{ extensions: { code: string; limit: string } }> }).errors;
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'maxCellsPerRequest' });
      expect((await get(serving, `/v1/views/page_views?from=now-10m`)).status).toBe(200);
      expect(await (await serving.app.request('/metrics')).text()).toMatch(/braid_serving_reads_refused_total\{[^}]*limit="maxCellsPerRequest"[^}]*\} [1-9]/);
    }

    // 2,000 cells per second per caller: a caller that spent them waits for the next second; another does not.
    {
      await using serving = await testServingApp(testConfig({ ...base, 'serving.cacheEntries': 0, 'serving.limits.cellsPerSecond': 2_000 }));
      const heavy = `/v1/views/page_views?from=${from}`;
      expect((await get(serving, heavy)).status).toBe(200);
      let refused: Awaited<ReturnType<typeof get>> | undefined;
      for (let attempt = 0; attempt < 20 && !refused; attempt++) {
        const next = await get(serving, heavy);
        if (next.status === 429) refused = next;
      }
      expect(refused?.body.error).toMatchObject({ code: 'RATE_LIMITED', limit: 'cellsPerSecond' });
      expect(Number(refused?.retryAfter)).toBeGreaterThanOrEqual(1);
      expect((await get(serving, heavy, 'b')).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect((await get(serving, `/v1/views/page_views?from=now-5m`)).status).toBe(200);
    }

    // One read doing work at a time per caller: of five at once, the ones that find it busy are refused.
    {
      await using serving = await testServingApp(testConfig({ ...base, 'serving.cacheEntries': 0, 'serving.limits.maxConcurrentReadsPerCaller': 1 }));
      const all = await Promise.all([20, 21, 22, 23, 24].map((limit) => get(serving, `/v1/views/page_views?from=${from}&limit=${limit}`)));
      const statuses = all.map((response) => response.status);
      expect(statuses).toContain(200);
      expect(statuses).toContain(429);
      expect(all.find((response) => response.status === 429)?.body.error).toMatchObject({ code: 'RATE_LIMITED', limit: 'maxConcurrentReadsPerCaller' });
    }
  });
});
