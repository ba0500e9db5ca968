export { createMetricsRegistry, Counter, Gauge, Histogram, Registry } from './registry.ts';
export { startMetricsServer, type MetricsServer } from './metrics-server.ts';
