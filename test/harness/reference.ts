import { readFileSync } from 'node:fs';
import { clickstream, type ClickstreamEvent } from '../../shared/sources/index.ts';

/**
 * Independent references over raw clickstream events, written without any
 * Braid layer code, for tests to compare the layers with.
 */

/** Revenue as SQL sums it: null until a non-null value comes. */
export function addRevenue(total: number | null, revenue: number | null): number | null {
  return revenue === null ? total : (total ?? 0) + revenue;
}

export interface ReferenceSession {
  readonly start: number;
  /** Last event + gap. */
  end: number;
  events: number;
  revenue: number | null;
}

/** Each user's sessions (a session ends `gapMs` after its last event), keyed `<start key>|<user>`. */
export function referenceSessions(events: readonly ClickstreamEvent[], gapMs: number, startKey: (startMs: number) => string | number = (startMs) => startMs): Map<string, ReferenceSession> {
  const byUser = new Map<string, ClickstreamEvent[]>();
  for (const event of events) byUser.set(event.user_id, [...(byUser.get(event.user_id) ?? []), event]);
  const sessions = new Map<string, ReferenceSession>();
  for (const [user, list] of byUser) {
    list.sort((a, b) => a.ts - b.ts);
    let current: ReferenceSession | undefined;
    for (const event of list) {
      if (current && event.ts < current.end) {
        current.end = event.ts + gapMs;
        current.events++;
        current.revenue = addRevenue(current.revenue, event.revenue);
      } else {
        if (current) sessions.set(`${startKey(current.start)}|${user}`, current);
        current = { start: event.ts, end: event.ts + gapMs, events: 1, revenue: event.revenue };
      }
    }
    if (current) sessions.set(`${startKey(current.start)}|${user}`, current);
  }
  return sessions;
}

/** The valid events of a `--tee` file (malformed lines, which go to the dead-letter topic, left out). */
export function readTeedEvents(file: string): ClickstreamEvent[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => clickstream.decode(line))
    .filter((decoded) => decoded.ok)
    .map((decoded) => (decoded as { event: ClickstreamEvent }).event);
}
