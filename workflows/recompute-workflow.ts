import type { Catalog } from '../shared/catalog/index.ts';
import type { Config } from '../shared/config/index.ts';
import { compact, defineWorkflow, recompute, waitForData, type TaskSpec, type Workflow } from './define-workflow.ts';

export const RECOMPUTE_WORKFLOW = 'recompute';

/**
 * Braid's own batch work as a workflow, built from the catalog: per source with views, wait until its archived
 * data is complete for the interval, compact it, then recompute each of its views for the interval (one task per
 * view, in the `duckdb` pool), each publishing a version and handing its windows over from the speed layer.
 */
export function recomputeWorkflow(config: Config, catalog: Catalog): Workflow {
  const tasks: TaskSpec[] = [];
  for (const { source } of catalog.sources.values()) {
    const views = catalog.views.forSource(source.name);
    if (views.length === 0) continue;
    const wait = waitForData(source.name, {
      lateness: Math.max(0, ...views.map((view) => view.allowedLatenessMs)),
      sensorTimeout: config.workflows.recompute.sensorTimeoutMs,
    });
    const compaction = compact(source.name, { dependsOn: [wait.id], retries: 2 });
    tasks.push(wait, compaction);
    for (const view of views) tasks.push(recompute(view.name, { dependsOn: [compaction.id], retries: 2 }));
  }
  return defineWorkflow({
    name: RECOMPUTE_WORKFLOW,
    description: "Braid's batch layer: per source, wait for its archived data, compact it, recompute its views for the interval.",
    schedule: config.workflows.recompute.schedule,
    // A run whose sensor waits long does not hold the next interval back.
    maxActiveRuns: 2,
    tasks,
  });
}
