import { spawn } from 'node:child_process';
import readline from 'node:readline';
import type { TaskLogLine, TaskThreadOutcome } from './task-threads.ts';

/**
 * Runs a `command` task: the program in a process group of its own, its output lines to the task's log, the
 * interval in `BRAID_INTERVAL_START`/`BRAID_INTERVAL_END`. Exit 0 is success. On timeout or abort the whole group
 * is killed (SIGKILL), so nothing it started goes on.
 */
export function runCommand(
  argv: readonly string[],
  options: { env: Readonly<Record<string, string>>; timeoutMs: number; signal?: AbortSignal; onLog: (line: TaskLogLine) => void },
): Promise<TaskThreadOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...options.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const finish = (outcome: TaskThreadOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      kill();
      finish({ ok: false, error: `timed out after ${options.timeoutMs} ms; its process group was killed`, retryable: true, timedOut: true });
    }, options.timeoutMs);
    const onAbort = () => {
      kill();
      finish({ ok: false, error: 'stopped: the worker is shutting down', retryable: true });
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    for (const [stream, level] of [[child.stdout, 'info'], [child.stderr, 'warn']] as const) {
      readline.createInterface({ input: stream }).on('line', (line) => options.onLog({ level, message: line }));
    }
    child.on('error', (error) => finish({ ok: false, error: `could not run ${argv[0]}: ${error.message}`, retryable: false }));
    // Its last output lines arrive up to the streams' close, which a process it left running may hold open.
    child.on('exit', (code, signal) => {
      const ended = () =>
        code === 0 ? finish({ ok: true, result: { exitCode: 0 } }) : finish({ ok: false, error: `${argv[0]} exited with ${signal ?? `code ${code}`}`, retryable: true });
      child.once('close', ended);
      setTimeout(ended, 1_000).unref();
    });
  });
}
