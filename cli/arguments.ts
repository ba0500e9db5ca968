import { InvalidArgumentError } from 'commander';
import { parseDurationMs, parseTimeMs } from '../shared/time/index.ts';

// Parsers of command-line values: each refuses a bad value with one line naming the flag and the form it takes.

/** A whole number from `minimum` to `maximum` (`1_000` and `1000` alike). */
export const wholeNumber =
  (flag: string, minimum = 1, maximum = Number.MAX_SAFE_INTEGER) =>
  (text: string): number => {
    const value = Number(text.replace(/_/g, ''));
    if (!Number.isInteger(value) || value < minimum || value > maximum) {
      throw new InvalidArgumentError(`${flag} takes a whole number ${maximum === Number.MAX_SAFE_INTEGER ? `≥ ${minimum}` : `from ${minimum} to ${maximum}`}`);
    }
    return value;
  };

/** A point in time: ISO-8601, epoch ms, `now` or `now-<duration>`. */
export const instant =
  (flag: string) =>
  (text: string): number => {
    const value = parseTimeMs(text);
    if (value === undefined) throw new InvalidArgumentError(`${flag} takes an ISO-8601 time (2026-01-01T00:00:00Z), epoch ms, now or now-<duration> (e.g. now-48h), got "${text}"`);
    return value;
  };

/** A duration: `500ms`, `30s`, `5m`, `2h`, `3d` or milliseconds. */
export const duration =
  (flag: string) =>
  (text: string): number => {
    const value = parseDurationMs(text);
    if (value === undefined) throw new InvalidArgumentError(`${flag} takes a duration such as 500ms, 30s, 5m, 2h or 3d`);
    return value;
  };
