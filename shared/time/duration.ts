import ms from 'ms';

/**
 * Parses a duration such as `'500ms'`, `'5s'`, `'1m'`, `'1h'`, `'2d'` (or a
 * plain number of milliseconds) into milliseconds. Returns undefined when the
 * text is not a non-negative duration, so callers can report it their own way.
 */
export function parseDurationMs(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const trimmed = text.trim();
  if (trimmed === '') return undefined; // `ms` throws on empty text
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  // `ms` accepts "1 minute" etc.; a value it cannot read comes back undefined.
  const value = ms(trimmed as ms.StringValue) as number | undefined;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** `90000` → `'1.5m'`-style short text for messages and tables. */
export function formatDurationMs(durationMs: number): string {
  return ms(durationMs);
}

/**
 * Parses a point in time: ISO-8601 text, epoch milliseconds, `now`, or
 * `now-<duration>` (e.g. `now-2h`). Returns epoch ms or undefined.
 */
export function parseTimeMs(text: string, nowMs: number = Date.now()): number | undefined {
  const trimmed = text.trim();
  if (trimmed === 'now') return nowMs;
  const relative = /^now\s*-\s*(.+)$/.exec(trimmed);
  if (relative) {
    const back = parseDurationMs(relative[1]!);
    return back === undefined ? undefined : nowMs - back;
  }
  if (/^\d{10,}$/.test(trimmed)) return Number(trimmed);
  // Shorter digit strings are no time anyone means (Date.parse would read '5' as a year).
  if (/^\d+$/.test(trimmed)) return undefined;
  const parsed = Date.parse(trimmed);
  return Number.isNaN(parsed) ? undefined : parsed;
}
