import { DateTime, IANAZone } from 'luxon';

/** The zone of epoch-aligned time: a UTC day is exactly 24 hours, so fixed and calendar days agree there. */
export const UTC = 'UTC';

/**
 * The IANA name of a time zone as the platform's time-zone data spells it
 * (matched regardless of case: `america/new_york` → `America/New_York`;
 * every name of UTC, such as `Etc/UTC`, → `UTC`), or undefined when there is
 * no such zone. A link such as `Asia/Kolkata` or `US/Eastern` is kept as
 * written (the platform would turn `Asia/Kolkata` into its older name). Fixed
 * offsets such as `+05:30` are not zones.
 *
 * @example canonicalTimeZone('europe/berlin') // 'Europe/Berlin'
 */
export function canonicalTimeZone(name: string): string | undefined {
  const trimmed = name.trim();
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(trimmed)) return undefined;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
  const canonical = resolved === UTC || resolved.toLowerCase() === trimmed.toLowerCase() ? resolved : trimmed;
  return IANAZone.isValidZone(canonical) ? canonical : undefined;
}

/**
 * An instant as the zone's wall clock with its offset, for messages.
 * @example formatInZone(Date.parse('2025-12-31T18:30:00Z'), 'Asia/Kolkata') // '2026-01-01T00:00:00+05:30'
 */
export function formatInZone(timeMs: number, timeZone: string): string {
  return DateTime.fromMillis(timeMs, { zone: timeZone }).toISO({ suppressMilliseconds: true }) ?? new Date(timeMs).toISOString();
}
