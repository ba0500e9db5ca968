/**
 * A benchmark: `run` measures and returns its figures (numbers, units in the
 * key names: `e2e_events_per_s`, `p99_ms`, `ratio_vs_baseline`). The harness
 * prints them as a table and, as the very last line, one JSON object
 * `{"bench":"<name>","figures":{…}}` for comparison across runs and machines.
 */
export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(context: BenchContext): Promise<Record<string, number>>;
}

export interface BenchContext {
  /** Human-readable progress, on stderr. */
  progress(message: string): void;
}

export function defineBenchmark(benchmark: Benchmark): Benchmark {
  return benchmark;
}

/** Runs `work` once to warm up, then `repeats` times, and returns the best events/s. */
export async function bestRate(events: number, repeats: number, work: () => unknown | Promise<unknown>): Promise<number> {
  await work();
  let best = 0;
  for (let round = 0; round < repeats; round++) {
    const started = process.hrtime.bigint();
    await work();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    best = Math.max(best, events / seconds);
  }
  return best;
}

/** Nearest-rank percentile of sorted values (NaN for none). */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}
