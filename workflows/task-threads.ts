import { Worker } from 'node:worker_threads';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { TaskCancel, TaskReply, TaskRequest, TaskThreadInit } from './task-protocol.ts';

const ENTRY = new URL('./task-thread-entry.js', import.meta.url);
/** A stopped task's `signal` aborts this long before its thread is terminated. */
const CANCEL_GRACE_MS = 100;

export type TaskThreadOutcome = { ok: true; result: unknown } | { ok: false; error: string; retryable: boolean; timedOut?: boolean };

export interface TaskLogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields?: Record<string, unknown>;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  /** Started and waiting for tasks (a new thread takes about a second to load its code). */
  warm: boolean;
  busy: boolean;
}

/**
 * Worker threads that run workflow tasks, one task per thread at a time, kept warm between tasks. A task that
 * outlives its timeout (or is cancelled) has its thread terminated, so its work really stops; a new thread takes
 * the slot. Tasks beyond the pool's size wait for a free thread.
 */
export class TaskThreadPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<() => void> = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly init: TaskThreadInit,
    readonly size: number,
  ) {
    for (let index = 0; index < size; index++) this.slots.push(this.startSlot());
  }

  private startSlot(): Slot {
    const worker = new Worker(ENTRY, { workerData: this.init, name: 'braid-workflow-task' });
    // A thread with nothing to run must not keep the process alive.
    worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (reply: TaskReply) => {
        if (reply.type !== 'ready') return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve();
      };
      worker.on('message', onMessage);
      worker.on('error', reject);
    });
    const slot: Slot = { worker, ready, warm: false, busy: false };
    ready.then(
      () => (slot.warm = true),
      () => undefined,
    );
    return slot;
  }

  private async acquire(): Promise<Slot> {
    for (;;) {
      if (this.closed) throw new BraidError(ErrorCode.INTERNAL, 'the task thread pool is closed');
      // A warm thread first: a task given to a thread still starting would wait while a warm one idles.
      const free = this.slots.find((slot) => !slot.busy && slot.warm) ?? this.slots.find((slot) => !slot.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Frees a slot; `replace` stops its thread (aborting task `cancel`'s signal first) and starts a new one. */
  private release(slot: Slot, replace: boolean, cancel?: number): void {
    if (replace) {
      if (cancel !== undefined) {
        slot.worker.postMessage({ type: 'cancel', id: cancel } satisfies TaskCancel);
        setTimeout(() => void slot.worker.terminate(), CANCEL_GRACE_MS).unref();
      } else {
        void slot.worker.terminate();
      }
      const index = this.slots.indexOf(slot);
      if (index >= 0 && !this.closed) this.slots[index] = this.startSlot();
    } else {
      slot.busy = false;
    }
    this.waiting.shift()?.();
  }

  /**
   * Runs a task in a free thread. Resolves with its result or error; a task still running after `timeoutMs`, or
   * when `signal` aborts, is stopped by terminating its thread.
   */
  async run(request: Omit<TaskRequest, 'type' | 'id'>, options: { timeoutMs: number; signal?: AbortSignal; onLog?: (line: TaskLogLine) => void }): Promise<TaskThreadOutcome> {
    const slot = await this.acquire();
    const id = this.nextId++;
    const { worker } = slot;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let settled = false;
    try {
      await slot.ready;
      worker.ref();
      return await new Promise<TaskThreadOutcome>((resolve) => {
        const finish = (outcome: TaskThreadOutcome, replace: boolean) => {
          if (settled) return;
          settled = true;
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
          if (!replace) worker.unref();
          this.release(slot, replace, replace ? id : undefined);
          resolve(outcome);
        };
        const onMessage = (reply: TaskReply) => {
          if (reply.type === 'log' && reply.id === id) options.onLog?.({ level: reply.level, message: reply.message, ...(reply.fields ? { fields: reply.fields } : {}) });
          else if (reply.type === 'done' && reply.id === id) finish(reply.ok ? { ok: true, result: reply.result } : { ok: false, error: reply.error, retryable: reply.retryable }, false);
        };
        const onError = (error: Error) => finish({ ok: false, error: `the task's thread failed: ${error.message}`, retryable: true }, true);
        const onExit = (code: number) => finish({ ok: false, error: `the task's thread exited (code ${code})`, retryable: true }, true);
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.on('exit', onExit);
        timer = setTimeout(() => finish({ ok: false, error: `timed out after ${options.timeoutMs} ms; its thread was stopped`, retryable: true, timedOut: true }, true), options.timeoutMs);
        onAbort = () => finish({ ok: false, error: 'stopped: the worker is shutting down', retryable: true }, true);
        if (options.signal?.aborted) onAbort();
        else options.signal?.addEventListener('abort', onAbort, { once: true });
        worker.postMessage({ ...request, type: 'run', id } satisfies TaskRequest);
      });
    } catch (error) {
      if (!settled) this.release(slot, true);
      return { ok: false, error: `the task's thread did not start: ${(error as Error).message}`, retryable: true };
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}
