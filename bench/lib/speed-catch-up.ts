import type { Redis } from 'ioredis';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import type { SpeedWorker } from '../../speed/index.ts';

const OFFSET_POLL_MS = 50;

/** Polls the speed layer's stored offsets until they reach the topic's end offsets (a failed worker fails the wait). */
export async function waitUntilCaughtUp(
  redis: Redis,
  keys: SpeedKeys,
  group: string,
  topic: string,
  ends: ReadonlyArray<{ partition: number; high: string }>,
  worker: SpeedWorker,
  timeoutMs: number,
): Promise<void> {
  const fields = ends.map(({ partition }) => SpeedKeys.offsetField(topic, partition));
  const deadline = Date.now() + timeoutMs;
  let failure: unknown;
  worker.done.catch((error: unknown) => (failure = error));
  for (;;) {
    if (failure) throw failure;
    const stored = await redis.hmget(keys.partitions(group), ...fields);
    if (ends.every(({ high }, index) => high === '0' || (stored[index] !== null && Number(stored[index]) >= Number(high)))) return;
    if (Date.now() > deadline) {
      throw new Error(
        `the speed worker did not reach the end offsets in ${timeoutMs / 1000} s: ` +
          ends.map(({ partition, high }, index) => `p${partition} ${stored[index] ?? 'none'}/${high}`).join(', '),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, OFFSET_POLL_MS));
  }
}
