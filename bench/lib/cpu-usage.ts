import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * Where a benchmark's CPU went, from Linux's /proc: this process's threads
 * and the machine's idle time. On a small box shared with Kafka and Redis,
 * a rate alone does not say whether a side was short of work or of cores.
 */
export interface CpuSnapshot {
  /** CPU ms (user + system) of each thread of this process, by thread id. */
  readonly threads: ReadonlyMap<number, number>;
  /** The machine's idle and total CPU ms, all cores. */
  readonly idleMs: number;
  readonly totalMs: number;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux Node runs on). */
const TICK_MS = 10;

/** Fields after the command name (field 3 on) of a /proc stat line. */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** This process's threads' CPU and the machine's; null where /proc cannot be read (not Linux). */
export function cpuSnapshot(): CpuSnapshot | null {
  try {
    const threads = new Map<number, number>();
    for (const tid of readdirSync('/proc/self/task')) {
      const fields = statFields(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'));
      // utime and stime are fields 14 and 15 of the line.
      threads.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * TICK_MS);
    }
    const machine = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: idle and iowait are the time no task ran.
    return { threads, idleMs: (machine[3]! + machine[4]!) * TICK_MS, totalMs: machine.slice(0, 8).reduce((sum, value) => sum + value, 0) * TICK_MS };
  } catch {
    return null;
  }
}

/** CPU ms (user + system, all threads) a process has used so far, from /proc/<pid>/stat; NaN where it cannot be read. */
export function processCpuMs(pid: number): number {
  try {
    const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return Number.NaN;
  }
}

/** Redis's CPU ms so far (its main process, user + system), from INFO. */
export async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
}

/**
 * CPU µs per event between two snapshots: this process's main thread, the
 * threads started since `before` (for a speed worker: its pipeline thread), the
 * other threads of the process (V8's garbage collection and compiler helpers,
 * libuv's pool), and the machine's idle share in %.
 */
export function cpuPerEvent(
  before: CpuSnapshot,
  after: CpuSnapshot,
  events: number,
  existingThreads: ReadonlySet<number>,
): { mainUs: number; newThreadsUs: number; otherThreadsUs: number; machineIdlePct: number } {
  let main = 0;
  let started = 0;
  let other = 0;
  for (const [tid, ms] of after.threads) {
    const used = ms - (before.threads.get(tid) ?? 0);
    if (tid === process.pid) main += used;
    else if (existingThreads.has(tid)) other += used;
    else started += used;
  }
  const perEvent = (ms: number) => (ms * 1000) / events;
  const totalMs = after.totalMs - before.totalMs;
  return {
    mainUs: perEvent(main),
    newThreadsUs: perEvent(started),
    otherThreadsUs: perEvent(other),
    machineIdlePct: totalMs > 0 ? (100 * (after.idleMs - before.idleMs)) / totalMs : Number.NaN,
  };
}
