import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What `braid stack up` started, recorded in `<stack.dir>/stack.json`. The
 * stack writes it; config reads it so that every command finds the local
 * Kafka and Redis without being told.
 */
export interface StackProcessState {
  readonly pid: number;
  readonly port: number;
  /** Absolute working folder the process was started in; `down` checks it to recognise its own pid. */
  readonly workDir: string;
  readonly logFile: string;
  readonly startedAt: string;
}

export interface StackState {
  kafka?: StackProcessState & { readonly controllerPort: number; readonly clusterId: string; readonly version: string };
  redis?: StackProcessState;
}

export function stackStateFile(stackDir: string): string {
  return path.join(stackDir, 'stack.json');
}

export function readStackState(stackDir: string): StackState {
  const file = stackStateFile(stackDir);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch {
    // A torn or hand-edited state file means "nothing known to run"; `up` rewrites it.
    return {};
  }
}
