import { Gauge, type Registry } from '../shared/metrics/index.ts';
import { currentVersion, viewManifest, type BatchManifest } from './view-versions.ts';

/**
 * Gauges of each view's current batch version, read from its manifest on every scrape, so they hold whichever
 * process published the version (a workflow worker, `npx braid recompute`) and survive restarts:
 * `braid_batch_version`, `braid_batch_cutoff_timestamp_seconds` (age: `time() - …`) and
 * `braid_batch_recompute_duration_seconds`. A view that has no version yet has none of them.
 *
 * @example
 * registerBatchViewMetrics(registry, config.dataDir, ['page_views']);
 */
export function registerBatchViewMetrics(registry: Registry, dataDir: string, views: readonly string[]): void {
  if (registry.getSingleMetric('braid_batch_version')) return;
  // One read of the manifests serves the three gauges of a scrape.
  let read: { atMs: number; manifests: BatchManifest[] } | undefined;
  const current = (): BatchManifest[] => {
    if (read && Date.now() - read.atMs < 1_000) return read.manifests;
    const manifests = views.flatMap((view) => {
      try {
        const version = currentVersion(dataDir, view);
        return version === null ? [] : [viewManifest(dataDir, view, version)];
      } catch {
        // A data dir that is not there (yet) or not readable from this process: no gauge rather than a failed scrape.
        return [];
      }
    });
    read = { atMs: Date.now(), manifests };
    return manifests;
  };
  const gauge = (options: { name: string; help: string; value: (manifest: BatchManifest) => number }) =>
    new Gauge({
      name: options.name,
      help: options.help,
      labelNames: ['view'],
      registers: [registry],
      collect() {
        this.reset();
        for (const manifest of current()) this.set({ view: manifest.view }, options.value(manifest));
      },
    });
  gauge({ name: 'braid_batch_version', help: "The view's current batch version (the one readers use).", value: (manifest) => manifest.version });
  gauge({
    name: 'braid_batch_cutoff_timestamp_seconds',
    help: "The current batch version's cutoff, epoch seconds: windows ending at or before it are served from batch.",
    value: (manifest) => manifest.cutoffMs / 1000,
  });
  gauge({
    name: 'braid_batch_recompute_duration_seconds',
    help: 'How long the recompute that published the current batch version took.',
    value: (manifest) => manifest.durationMs / 1000,
  });
}
