import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashApiKey } from '../../serving/index.ts';
import { clickstreamInSpeedLayer, produceClickstream, tempDir, testConfig, testKafka, testServingApp, waitFor } from '../harness/index.ts';

const ADMIN_KEY = 'brd_console-admin-key';
const MARKETING_KEY = 'brd_console-marketing-key';
const MINUTE = 60_000;

interface SourceJson {
  name: string;
  topic: string;
  views: string[];
  partitions: Array<{ partition: number; endOffset: number; lag: Record<string, number | null> }>;
  eventsPerSecond: number | null;
  deadLettered: number | null;
  late: number | null;
  recentDeadLetters: Array<{ reason: string; partition: number; offset: string; at: string; value: string | null }>;
  kafka: { available: boolean; error?: string };
}

describe("the console's API: view status, batch versions, sources", () => {
  it("reports a view's freshness and why it is partial; a source's offsets, lag, rate and recent dead letters; each only to a role that may read the views", async () => {
    const now = Date.now();
    await using events = await clickstreamInSpeedLayer({
      prefix: 'console-api',
      partitions: 2,
      generator: { seed: 5, users: 100, urls: 20, badFraction: 0.05 },
      count: 2_000,
      startMs: now - 60 * MINUTE,
      spanMs: 55 * MINUTE,
    });
    using dir = tempDir();
    const kafka = testKafka();
    const config = testConfig({
      ...events.config,
      dataDir: path.join(dir.path, 'data'),
      'serving.auth.apiKeys': [
        { name: 'ops', sha256: hashApiKey(ADMIN_KEY), roles: ['admin'] },
        { name: 'dashboards', sha256: hashApiKey(MARKETING_KEY), roles: ['marketing'] },
      ],
      'serving.auth.roles': { admin: ['*'], marketing: ['page_views'] },
    });
    await using serving = await testServingApp(config, undefined, kafka);
    const get = async <T>(url: string, key = ADMIN_KEY) => {
      const response = await serving.app.request(url, { headers: { 'x-api-key': key } });
      return { status: response.status, body: (await response.json()) as T };
    };

    const status = await get<Record<string, unknown>>('/v1/views/page_views/status');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ view: 'page_views', source: 'clickstream', batch: null, partial: true, speed: { partitionsFlushed: 2, partitions: 2 } });
    expect((status.body.speed as { watermarkLagMs: number }).watermarkLagMs).toBeGreaterThan(0);
    expect(Date.parse((status.body.speed as { watermark: string }).watermark)).toBeGreaterThan(now - 10 * MINUTE);
    expect((status.body.reasons as string[]).join()).toMatch(/no batch version is published yet/);
    expect((await get<{ current: null; versions: unknown[] }>('/v1/views/page_views/versions')).body).toEqual({ view: 'page_views', current: null, versions: [] });

    const sources = await get<{ sources: SourceJson[] }>('/v1/sources');
    expect(sources.status).toBe(200);
    const [source] = sources.body.sources;
    expect(source).toMatchObject({ name: 'clickstream', topic: config.sources.settings.clickstream!.topic, views: ['page_views', 'country_minutes', 'user_sessions'], kafka: { available: true } });
    expect(source!.partitions.map((p) => p.partition)).toEqual([0, 1]);
    expect(source!.partitions.reduce((sum, p) => sum + p.endOffset, 0)).toBe(2_000);
    const speedLag = Object.keys(source!.partitions[0]!.lag).find((group) => group.startsWith('speed:'))!;
    // The speed worker committed what it flushed before it stopped; nothing archived this topic.
    expect(source!.partitions.map((p) => [p.lag[speedLag], p.lag.archive])).toEqual([
      [0, null],
      [0, null],
    ]);
    expect(source!.deadLettered).toBeGreaterThan(50);
    expect(source!.deadLettered).toBeLessThan(200);
    expect(source!.recentDeadLetters).toHaveLength(20);
    for (const letter of source!.recentDeadLetters) {
      expect(letter.reason).toMatch(/malformed JSON|schema|not a JSON object/);
      expect([0, 1]).toContain(letter.partition);
      expect(Number(letter.offset)).toBeGreaterThanOrEqual(0);
      expect(Number(letter.offset)).toBeLessThan(2_000);
    }

    // The rate comes from the topic's end offsets between two reads.
    await produceClickstream(kafka, config.sources.settings.clickstream!.topic!, { count: 300, partitions: 2, startMs: now - MINUTE, spanMs: MINUTE, generator: { seed: 6 } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const later = await waitFor(async () => (await get<{ sources: SourceJson[] }>('/v1/sources')).body.sources[0]!, { timeoutMs: 5_000, what: 'a second read of the sources' });
    expect(later.eventsPerSecond).toBeGreaterThan(0);
    expect(later.partitions.reduce((sum, p) => sum + p.endOffset, 0)).toBe(2_300);

    // A role reads the status of its views only, and sees only their sources' views.
    expect((await get('/v1/views/user_sessions/status', MARKETING_KEY)).status).toBe(403);
    expect((await get('/v1/views/user_sessions/versions', MARKETING_KEY)).status).toBe(403);
    expect((await get('/v1/views/page_views/status', MARKETING_KEY)).status).toBe(200);
    expect((await get<{ sources: SourceJson[] }>('/v1/sources', MARKETING_KEY)).body.sources.map((s) => s.views)).toEqual([['page_views']]);
    expect((await serving.app.request('/v1/sources')).status).toBe(401);
  });

  it('serves the console page and the libraries it imports from the npm packages, and GraphiQL without a CDN', async () => {
    using dir = tempDir();
    const config = testConfig({ dataDir: path.join(dir.path, 'data'), 'serving.development': true });
    await using serving = await testServingApp(config);
    const page = await serving.app.request('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    const imports = (JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!) as { imports: Record<string, string> }).imports;
    expect(Object.keys(imports).sort()).toEqual(['htm', 'htm/preact', 'preact', 'preact/hooks', 'uplot']);
    for (const url of [...Object.values(imports), '/console/console.js', '/console/pages.js', '/console/vendor/uplot.css']) {
      const asset = await serving.app.request(url);
      expect(asset.status, url).toBe(200);
      expect((await asset.text()).length, url).toBeGreaterThan(100);
    }
    expect((await serving.app.request('/console/../package.json')).status).toBe(404);
    const graphiql = await serving.app.request('/graphql', { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    const graphiqlPage = await graphiql.text();
    expect(graphiqlPage).toMatch(/YogaGraphiQL\.renderYogaGraphiQL/);
    // Every script and style is in the page: nothing is loaded from another host.
    expect(graphiqlPage).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/);
  });
});
