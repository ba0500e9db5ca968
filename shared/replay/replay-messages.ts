import path from 'node:path';
import type { OutgoingMessage } from '../produce/index.ts';
import type { EventOf, FieldSpec, Source } from '../sources/index.ts';
import type { ReplayRow } from './replay-row.ts';
import type { ReplayTally } from './replay-tally.ts';

/** What a replayed message is: a valid event for the source's topic, or a bad row for its dead-letter topic. */
export type ReplayKind = 'valid' | 'bad';

export const REPLAY_KINDS: readonly ReplayKind[] = ['valid', 'bad'];

/** Dead-letter headers of a bad row, beside the speed layer's `braid-error`. */
export const REPLAY_HEADERS = { error: 'braid-error', file: 'braid-source-file', row: 'braid-source-row' } as const;

export interface ReplayMessagesOptions {
  /** The source the rows were checked by: it writes each event as its events are written (`source.encode`). */
  source: Source;
  /** The dead-letter topic, `<topic>.dlq`. */
  dlqTopic: string;
  /** The file's path, as the `braid-source-file` header carries it (made absolute). */
  file: string;
  /** Counts every row that passes. */
  tally?: ReplayTally;
}

/**
 * A file's rows as messages: each valid event as one JSON object keyed by
 * `source.keyOf(event)`; each bad row to the dead-letter topic, its value the
 * row as JSON text, with headers `braid-error` (the reason),
 * `braid-source-file` and `braid-source-row` (1-based).
 *
 * @example
 * produceMessages({ …, messages: replayMessages(replay.rows(), { source: orders, dlqTopic: 'orders.dlq', file }), kinds: REPLAY_KINDS })
 */
export async function* replayMessages(rows: AsyncIterable<ReplayRow>, options: ReplayMessagesOptions): AsyncGenerator<OutgoingMessage<ReplayKind>> {
  const file = path.resolve(options.file);
  for await (const row of rows) {
    options.tally?.add(row);
    if (row.ok) yield { key: row.key, value: options.source.encode(row.event as EventOf<Record<string, FieldSpec>>), kind: 'valid' };
    else {
      yield {
        key: null,
        value: row.raw,
        kind: 'bad',
        topic: options.dlqTopic,
        headers: { [REPLAY_HEADERS.error]: row.problem.reason, [REPLAY_HEADERS.file]: file, [REPLAY_HEADERS.row]: String(row.row) },
      };
    }
  }
}
