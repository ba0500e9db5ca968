import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics/index.ts';

/** The serving layer's Prometheus metrics. */
export function createServingMetrics(registry: Registry) {
  const registers = [registry];
  return {
    requests: new Counter({ name: 'braid_serving_requests_total', help: 'HTTP requests, per route and status.', labelNames: ['route', 'status'], registers }),
    requestSeconds: new Histogram({
      name: 'braid_serving_request_duration_seconds',
      help: 'HTTP request duration, per route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    cacheHits: new Counter({ name: 'braid_serving_cache_hits_total', help: 'Answers served from the response cache, per view.', labelNames: ['view'], registers }),
    partialAnswers: new Counter({ name: 'braid_serving_partial_answers_total', help: 'Answers flagged partial (a range neither layer could serve), per view.', labelNames: ['view'], registers }),
    readCells: new Counter({ name: 'braid_serving_read_cells_total', help: 'Cells (window × group rows) read from the batch and speed layers, per view.', labelNames: ['view'], registers }),
    readsRefused: new Counter({ name: 'braid_serving_reads_refused_total', help: 'Reads refused by a read limit, per limit.', labelNames: ['limit'], registers }),
    subscriptions: new Gauge({ name: 'braid_serving_subscriptions', help: 'Open GraphQL subscriptions, per view.', labelNames: ['view'], registers }),
  };
}

export type ServingMetrics = ReturnType<typeof createServingMetrics>;
