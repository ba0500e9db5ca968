// The workflows layer's public face.
export {
  command,
  compact,
  defineWorkflow,
  DoNotRetry,
  isWorkflow,
  recompute,
  sql,
  task,
  TRIGGER_RULES,
  waitForData,
  type JsonValue,
  type Task,
  type TaskContext,
  type TaskLogger,
  type TaskOptions,
  type TaskSpec,
  type TriggerRule,
  type Workflow,
  type WorkflowSpec,
} from './define-workflow.ts';
export { loadWorkflows, type WorkflowCatalog, type WorkflowEntry } from './load-workflows.ts';
export { RECOMPUTE_WORKFLOW, recomputeWorkflow } from './recompute-workflow.ts';
export { FINAL_TASK_STATES, jobIdOf, runIdOf, RunStore, RUN_STATES, TASK_STATES, type RunRecord, type RunState, type TaskRecord, type TaskState } from './run-store.ts';
export { parseSchedule, type Interval, type Schedule } from './schedule.ts';
export { Scheduler, triggerRun, type SchedulerOptions } from './scheduler.ts';
export { TaskQueues } from './task-queues.ts';
export { retryDelayMs, WorkflowWorker, type WorkflowWorkerOptions } from './workflow-worker.ts';
export { createWorkflowMetrics } from './workflow-metrics.ts';
export { describeAction, summarizeRun, WorkflowAdmin, type RunDetail, type RunSummary, type TaskDetail, type TaskSummary, type WorkflowDetail, type WorkflowSummary } from './workflow-admin.ts';
export { planBackfill, REPROCESS_MODES, runBackfill, type BackfillItem, type BackfillPlan, type BackfillProgress, type BackfillResult, type ReprocessMode } from './backfill.ts';
