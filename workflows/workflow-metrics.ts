import { Counter, Gauge, Histogram, type Registry } from '../shared/metrics/index.ts';

/** The workflow engine's metrics, registered once per registry. */
export function createWorkflowMetrics(registry: Registry) {
  const registers = [registry];
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    runs:
      existing<Counter>('braid_workflow_runs_total') ??
      new Counter({ name: 'braid_workflow_runs_total', help: 'Workflow runs by the state they reached (created, queued, success, failed).', labelNames: ['workflow', 'state'], registers }),
    attempts:
      existing<Counter>('braid_workflow_task_attempts_total') ??
      new Counter({
        name: 'braid_workflow_task_attempts_total',
        help: 'Task attempts by how they ended (success, failed, retry, poke, stale: refused as its task had moved on).',
        labelNames: ['workflow', 'task', 'outcome'],
        registers,
      }),
    taskSeconds:
      existing<Histogram>('braid_workflow_task_duration_seconds') ??
      new Histogram({
        name: 'braid_workflow_task_duration_seconds',
        help: 'Duration of task attempts.',
        labelNames: ['workflow', 'pool'],
        buckets: [0.005, 0.02, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
        registers,
      }),
    handoffSeconds:
      existing<Histogram>('braid_workflow_handoff_seconds') ??
      new Histogram({
        name: 'braid_workflow_handoff_seconds',
        help: "Hand-off latency: a task's last upstream task finished → the task started.",
        buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5],
        registers,
      }),
    sensorWaitSeconds:
      existing<Histogram>('braid_workflow_sensor_wait_seconds') ??
      new Histogram({
        name: 'braid_workflow_sensor_wait_seconds',
        help: 'How long sensors waited before their data was there (or they gave up).',
        labelNames: ['workflow', 'task'],
        buckets: [1, 5, 15, 60, 300, 900, 3600, 21600],
        registers,
      }),
    queueDepth:
      existing<Gauge>('braid_workflow_queue_jobs') ??
      new Gauge({ name: 'braid_workflow_queue_jobs', help: 'Jobs in each pool queue by state (waiting, delayed, active).', labelNames: ['pool', 'state'], registers }),
    leader:
      existing<Gauge>('braid_workflow_scheduler_leader') ??
      new Gauge({ name: 'braid_workflow_scheduler_leader', help: '1 while this scheduler holds the lease (and acts), else 0.', labelNames: ['instance'], registers }),
  };
}

export type WorkflowMetrics = ReturnType<typeof createWorkflowMetrics>;
