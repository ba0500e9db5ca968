import { readFileSync } from 'node:fs';
import type { RunRecord, RunStore } from '../../workflows/index.ts';
import { waitFor } from './index.ts';

/** The lines a workflow fixture's tasks appended to `file` (BRAID_TEST_SCRATCH), each split at spaces. */
export function traceLines(file: string): string[][] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '));
}

/** Waits until run `runId` has ended (success or failed) and returns it. */
export function runFinished(store: RunStore, runId: string, timeoutMs = 30_000): Promise<RunRecord> {
  return waitFor(
    async () => {
      const run = await store.getRun(runId);
      return run && (run.state === 'success' || run.state === 'failed') ? run : undefined;
    },
    { timeoutMs, what: `run ${runId} to finish` },
  );
}
