import type { ReplayTally } from './replay-tally.ts';

/**
 * The bad-row part of a replay's report: counts per problem, then the first
 * bad rows with their numbers. No lines when every row was valid.
 *
 * @example
 * replayReportLines(tally)
 * // ['bad rows by problem:', '       3  amount: not a number', 'first bad rows:', '  row 7: amount: "abc" is not a number']
 */
export function replayReportLines(tally: ReplayTally): string[] {
  if (tally.bad === 0) return [];
  const groups = tally.groups();
  const width = Math.max(...groups.map(({ count }) => count.toLocaleString('en-US').length));
  return [
    'bad rows by problem:',
    ...groups.map(({ group, count }) => `  ${count.toLocaleString('en-US').padStart(width)}  ${group}`),
    'first bad rows:',
    ...tally.firstBad.map(({ row, reason }) => `  row ${row}: ${reason}`),
  ];
}
