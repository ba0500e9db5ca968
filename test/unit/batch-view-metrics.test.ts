import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registerBatchViewMetrics } from '../../batch/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A data dir where `view` has published `version` (its manifest and the CURRENT pointer), as a recompute leaves it. */
function publish(dataDir: string, view: string, version: number, cutoff: string, durationMs: number): void {
  const root = path.join(dataDir, 'views', view);
  mkdirSync(path.join(root, `v${version}`), { recursive: true });
  writeFileSync(path.join(root, `v${version}`, 'manifest.json'), JSON.stringify({ view, version, cutoffMs: Date.parse(cutoff), durationMs }));
  writeFileSync(path.join(root, 'CURRENT'), `${version}\n`);
}

describe('registerBatchViewMetrics', () => {
  it("reports each view's current batch version, cutoff and recompute duration as of the scrape; a view without a version has none", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'braid-batch-metrics-'));
    dirs.push(dataDir);
    const registry = createMetricsRegistry('test');
    registerBatchViewMetrics(registry, dataDir, ['page_views', 'country_minutes']);
    publish(dataDir, 'page_views', 1, '2026-05-01T10:00:00Z', 2_500);
    expect(await registry.metrics()).toMatch(/^braid_batch_version\{view="page_views",braid_process="test"\} 1$/m);
    expect(await registry.metrics()).not.toMatch(/view="country_minutes"/);

    // A later publish shows at the next scrape (a second on), whichever process made it.
    publish(dataDir, 'page_views', 2, '2026-05-01T11:00:00Z', 1_250);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const text = await registry.metrics();
    expect(text).toMatch(/^braid_batch_version\{view="page_views",braid_process="test"\} 2$/m);
    expect(text).toMatch(new RegExp(`^braid_batch_cutoff_timestamp_seconds\\{view="page_views",braid_process="test"\\} ${Date.parse('2026-05-01T11:00:00Z') / 1000}$`, 'm'));
    expect(text).toMatch(/^braid_batch_recompute_duration_seconds\{view="page_views",braid_process="test"\} 1\.25$/m);
  });

  it('registers once per registry, and a data dir that is not there makes no gauge and no failed scrape', async () => {
    const registry = createMetricsRegistry('test');
    registerBatchViewMetrics(registry, path.join(os.tmpdir(), 'braid-no-such-data-dir'), ['page_views']);
    registerBatchViewMetrics(registry, path.join(os.tmpdir(), 'braid-no-such-data-dir'), ['page_views']);
    const text = await registry.metrics();
    expect(text).toMatch(/^# TYPE braid_batch_version gauge$/m);
    expect(text).not.toMatch(/^braid_batch_version\{/m);
  });
});
