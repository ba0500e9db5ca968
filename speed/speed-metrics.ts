import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics/index.ts';
import type { ThreadCounts } from './threads/pipeline-protocol.ts';

/** The speed worker's Prometheus metrics. */
export function createSpeedMetrics(registry: Registry) {
  const registers = [registry];
  return {
    eventsIn: new Counter({ name: 'braid_speed_events_in_total', help: 'Valid events consumed, per source.', labelNames: ['source'], registers }),
    eventsPerView: new Counter({ name: 'braid_speed_view_events_total', help: 'Events counted into a view (after its filter), per view.', labelNames: ['view'], registers }),
    late: new Counter({ name: 'braid_speed_late_events_total', help: 'Events too late for every window of a view (sent to <topic>.late), per view.', labelNames: ['view'], registers }),
    deadLettered: new Counter({ name: 'braid_speed_dead_lettered_total', help: 'Malformed or schema-invalid messages sent to <topic>.dlq, per source.', labelNames: ['source'], registers }),
    watermark: new Gauge({ name: 'braid_speed_watermark_ms', help: 'Worker watermark (min over non-idle assigned partitions), epoch ms.', labelNames: ['source'], registers }),
    watermarkLag: new Gauge({ name: 'braid_speed_watermark_lag_ms', help: 'Wall clock minus the worker watermark.', labelNames: ['source'], registers }),
    flushSeconds: new Histogram({
      name: 'braid_speed_flush_duration_seconds',
      help: 'Duration of one flush round (all partitions of a source).',
      labelNames: ['source'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    pendingCells: new Gauge({ name: 'braid_speed_pending_cells', help: 'Window × key cells waiting for the next flush.', labelNames: ['source'], registers }),
    heldSketches: new Gauge({
      name: 'braid_speed_held_sketches',
      help: "approxDistinct sketches held in memory between flushes: each partition's sketch of each cell of the windows still open, as of the last flush round.",
      labelNames: ['source'],
      registers,
    }),
    consumerLag: new Gauge({ name: 'braid_speed_consumer_lag_messages', help: 'Messages behind the partition high watermark.', labelNames: ['topic', 'partition'], registers }),
    flushRejected: new Counter({
      name: 'braid_speed_flush_rejected_total',
      help: 'Partition flushes refused because another worker had moved the partition on (their whole flush round was dropped, and its partitions restored and re-read).',
      labelNames: ['source'],
      registers,
    }),
    flushFailures: new Counter({
      name: 'braid_speed_flush_failures_total',
      help: 'Flush scripts that failed (Redis unreachable or erroring) and were tried again; past speed.flushRetries in a row the worker stops.',
      labelNames: ['source'],
      registers,
    }),
  };
}

export type SpeedMetrics = ReturnType<typeof createSpeedMetrics>;

/**
 * Starts a source's and its views' counters at zero, so a rate or an alert over them reads 0 rather than nothing
 * until the first event of a kind (a dead letter, a late event, a refused flush) arrives, and that first one is
 * counted as an increase.
 */
export function startCountersAtZero(metrics: SpeedMetrics, source: string, views: readonly { readonly name: string }[]): void {
  for (const counter of [metrics.eventsIn, metrics.deadLettered, metrics.flushRejected, metrics.flushFailures]) counter.inc({ source }, 0);
  for (const view of views) {
    metrics.eventsPerView.inc({ view: view.name }, 0);
    metrics.late.inc({ view: view.name }, 0);
  }
}

/** Adds a pipeline thread's counts (events since its previous reply) of `source` and its `views` (in the thread's order) to the metrics. */
export function addThreadCounts(metrics: SpeedMetrics, source: string, views: readonly { readonly name: string }[], counts: ThreadCounts): void {
  if (counts.eventsIn > 0) metrics.eventsIn.inc({ source }, counts.eventsIn);
  if (counts.deadLettered > 0) metrics.deadLettered.inc({ source }, counts.deadLettered);
  views.forEach((view, index) => {
    if (counts.eventsPerView[index]! > 0) metrics.eventsPerView.inc({ view: view.name }, counts.eventsPerView[index]!);
    if (counts.latePerView[index]! > 0) metrics.late.inc({ view: view.name }, counts.latePerView[index]!);
  });
}
