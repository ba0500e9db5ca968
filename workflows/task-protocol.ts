import type { Config } from '../shared/config/index.ts';

/** What a task thread is started with. */
export interface TaskThreadInit {
  readonly config: Config;
}

/** What a task thread is asked to run: a workflow's task, found by the workflow's module and name. */
export interface TaskRequest {
  readonly type: 'run';
  readonly id: number;
  /** The module defining the workflow (absent for Braid's own recompute workflow, built from the catalog). */
  readonly workflowFile: string | undefined;
  readonly workflow: string;
  readonly task: string;
  readonly runId: string;
  readonly trigger: string;
  readonly interval: { readonly startMs: number; readonly endMs: number };
  readonly attempt: number;
  readonly upstream: Readonly<Record<string, unknown>>;
}

/** The host stopping a task (its timeout, or the worker shutting down): the task's `signal` aborts, then the thread is terminated. */
export interface TaskCancel {
  readonly type: 'cancel';
  readonly id: number;
}

export type TaskReply =
  | { readonly type: 'ready' }
  | { readonly type: 'log'; readonly id: number; readonly level: 'info' | 'warn' | 'error'; readonly message: string; readonly fields?: Record<string, unknown> }
  | { readonly type: 'done'; readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly type: 'done'; readonly id: number; readonly ok: false; readonly error: string; readonly retryable: boolean };
