import type { ReplayRow } from './replay-row.ts';

export interface BadRowExample {
  readonly row: number;
  readonly reason: string;
}

/**
 * Counts of a replay: rows read, valid, bad by problem group, and the first
 * few bad rows with their row numbers.
 *
 * @example
 * const tally = new ReplayTally();
 * for await (const row of replay.rows()) tally.add(row);
 * tally.badByGroup // Map { 'amount: not a number' => 3, … }
 */
export class ReplayTally {
  read = 0;
  valid = 0;
  bad = 0;
  /** Bad rows per problem group, most frequent first when listed by `groups()`. */
  readonly badByGroup = new Map<string, number>();
  readonly firstBad: BadRowExample[] = [];

  /** @param examples bad rows kept as examples. Default 5. */
  constructor(private readonly examples = 5) {}

  add(row: ReplayRow): void {
    this.read++;
    if (row.ok) {
      this.valid++;
      return;
    }
    this.bad++;
    this.badByGroup.set(row.problem.group, (this.badByGroup.get(row.problem.group) ?? 0) + 1);
    if (this.firstBad.length < this.examples) this.firstBad.push({ row: row.row, reason: row.problem.reason });
  }

  /** Problem groups with their counts, most frequent first. */
  groups(): Array<{ group: string; count: number }> {
    return [...this.badByGroup].map(([group, count]) => ({ group, count })).sort((a, b) => b.count - a.count || a.group.localeCompare(b.group));
  }
}
