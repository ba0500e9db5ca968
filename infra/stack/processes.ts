import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';

/** True if a process with this pid exists (signal 0 probes without touching it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True if `pid` is alive and is the process the stack started: its working
 * directory is the data folder the stack gave it. Guards against stopping an
 * unrelated process that reused a recorded pid.
 */
export function isOurProcess(pid: number, workDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === workDir;
  } catch {
    // No /proc (not Linux) or not allowed: fall back to the pid alone.
    return true;
  }
}

/** Throws TOOL_NOT_FOUND with `hint` unless `command args` runs. */
export function requireTool(command: string, args: string[], hint: string): void {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new BraidError(ErrorCode.TOOL_NOT_FOUND, `${command} not found on PATH`, { fields: { command }, hint });
  }
}

/**
 * Starts a long-lived process detached from this one (it outlives the CLI),
 * with stdout and stderr appended to `logFile`. Returns its pid.
 */
export function spawnDetached(command: string, args: string[], options: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): number {
  const out = openSync(options.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', out, out],
      env: options.env ?? process.env,
    });
    if (child.pid === undefined) {
      throw new BraidError(ErrorCode.STACK_START_FAILED, `could not start ${command}`, { fields: { command } });
    }
    child.unref();
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs: number): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isAlive(pid)) return 'not-running';
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  while (isAlive(pid)) await sleep(50);
  return 'killed';
}

/** The last lines of a log file, for error messages about a process that died. */
export function tailFile(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export function sleep(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}
