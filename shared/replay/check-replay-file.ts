import type { ReplayFile } from './replay-file.ts';
import { ReplayTally } from './replay-tally.ts';

/**
 * Reads a whole file (or its first `count` rows) as a replay would, sending
 * nothing: the counts of a dry run. Aborting stops reading and returns what was counted.
 *
 * @example
 * const tally = await checkReplayFile(await openReplayFile({ file: 'events.csv', source }));
 * console.log(tally.read, tally.valid, tally.bad);
 */
export async function checkReplayFile(replay: ReplayFile, options: { count?: number; signal?: AbortSignal } = {}): Promise<ReplayTally> {
  const tally = new ReplayTally();
  try {
    if (options.count !== undefined && options.count <= 0) return tally;
    for await (const row of replay.rows()) {
      tally.add(row);
      if (tally.read === options.count || options.signal?.aborted) break;
    }
  } finally {
    replay.close();
  }
  return tally;
}
