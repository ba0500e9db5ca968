import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * A Prometheus registry for one process, with Node's default metrics
 * (CPU, memory, event-loop lag, GC) and a `braid_process` label naming the role.
 */
export function createMetricsRegistry(processName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ braid_process: processName });
  collectDefaultMetrics({ register: registry });
  return registry;
}
