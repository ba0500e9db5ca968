import type { Redis } from 'ioredis';
import { sourceSettings, type Config } from '../../shared/config/index.ts';
import { demoViews } from '../../shared/views/index.ts';
import { readSpeedView } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';

/** Every demo view's rows within a day of `startMs`, sums rounded (flush boundaries change float addition order), as one comparable value. */
export async function dumpViews(redis: Redis, config: Config, startMs: number): Promise<Record<string, unknown[]>> {
  const settings = sourceSettings(config, 'clickstream');
  const target = { redis, keys: new SpeedKeys(config.redis.keyPrefix), maxOutOfOrdernessMs: settings.maxOutOfOrdernessMs, idleTimeoutMs: settings.idleTimeoutMs };
  const dump: Record<string, unknown[]> = {};
  for (const view of demoViews) {
    const { rows } = await readSpeedView(target, view, { fromMs: startMs - 86_400_000, toMs: startMs + 86_400_000 });
    dump[view.name] = rows.map((row) => ({
      start: row.windowStart,
      end: row.windowEnd,
      ...row.dimensions,
      ...Object.fromEntries(Object.entries(row.measures).map(([name, value]) => [name, typeof value === 'number' ? Math.round(value * 1e6) / 1e6 : value])),
    }));
  }
  return dump;
}

/** A short description of how two dumps differ ('' when equal): row counts, then the first differing rows per view. */
export function diffDumps(actual: Record<string, unknown[]>, expected: Record<string, unknown[]>): string {
  const lines: string[] = [];
  for (const view of Object.keys(expected)) {
    const a = (actual[view] ?? []).map((row) => JSON.stringify(row));
    const e = (expected[view] ?? []).map((row) => JSON.stringify(row));
    if (a.length !== e.length) lines.push(`${view}: ${a.length} rows, expected ${e.length}`);
    const missing = e.filter((row) => !a.includes(row)).slice(0, 3);
    const extra = a.filter((row) => !e.includes(row)).slice(0, 3);
    for (const row of missing) lines.push(`${view} missing ${row}`);
    for (const row of extra) lines.push(`${view} unexpected ${row}`);
  }
  return lines.join('\n');
}
