import { sourceSettings, type Config } from '../shared/config/index.ts';
import { timeGrid } from '../shared/time/index.ts';
import { windowSpanMs, windowStartGranularity, type View } from '../shared/views/index.ts';
import { newestEventByPartition, type MasterFile } from './master-dataset.ts';
import { currentVersion, inputName, viewManifest, type BatchManifest } from './view-versions.ts';

// What a recompute covers, decided before it runs: its cutoff, and for an incremental run the event-time ranges
// whose windows it recomputes (or why it must be full).

/** A workflow run's data interval, epoch ms, end excluded. */
export interface RecomputeInterval {
  readonly startMs: number;
  readonly endMs: number;
}

/** How far a window reaches: its (longest) size, or a session's gap. */
export function windowSpan(view: View): number {
  return windowSpanMs(view.window);
}

/** Event-time ranges, epoch ms, both ends included. */
export type TimeRanges = ReadonlyArray<readonly [number, number]>;

export type IncrementalPlan = { full: string } | { previous: BatchManifest; ranges: TimeRanges };

/** Which event-time ranges an incremental run must recompute the windows of, or why it must be full. */
export function planIncremental(config: Config, view: View, files: readonly MasterFile[], cutoffMs: number, interval?: RecomputeInterval): IncrementalPlan {
  const current = currentVersion(config.dataDir, view.name);
  if (current === null) return { full: 'no previous version' };
  const previous = viewManifest(config.dataDir, view.name, current);
  if (previous.definitionHash !== view.definitionHash) return { full: `the definition changed (${previous.definitionHash} → ${view.definitionHash})` };
  if (view.window.type === 'session') return { full: 'session windows can span any length of time' };
  if (cutoffMs < previous.cutoffMs) return { full: 'the cutoff moved back' };
  const known = new Set(previous.inputs.map((input) => input.file));
  const ranges: Array<[number, number]> = files.filter((file) => !known.has(inputName(file))).map((file) => [file.minTimeMs, file.maxTimeMs]);
  // Windows that fell below the cutoff since the previous version are new too.
  if (cutoffMs > previous.cutoffMs) ranges.push([previous.cutoffMs - windowSpan(view), cutoffMs - 1]);
  if (interval && interval.endMs > interval.startMs) ranges.push([interval.startMs, interval.endMs - 1]);
  return { previous, ranges: mergeRanges(ranges) };
}

/** Sorted, overlapping or adjacent ranges joined. */
function mergeRanges(ranges: Array<[number, number]>): TimeRanges {
  const merged: Array<[number, number]> = [];
  for (const [from, to] of ranges.sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/**
 * The cutoff of a recompute: the latest safely complete window end; for a workflow run's interval, no later than
 * the interval's end (aligned down to a window boundary) and never before the current version's cutoff.
 */
export function cutoffFor(config: Config, view: View, files: readonly MasterFile[], interval: RecomputeInterval | undefined): number {
  const safe = defaultCutoff(files, config, view);
  if (!interval) return safe;
  const current = currentVersion(config.dataDir, view.name);
  const previous = current === null ? null : viewManifest(config.dataDir, view.name, current).cutoffMs;
  const starts = windowStartGranularity(view.window);
  const atIntervalEnd = Math.min(safe, starts === undefined ? interval.endMs : timeGrid(starts).startOf(interval.endMs));
  return Math.max(previous ?? -Infinity, atIntervalEnd);
}

/**
 * The latest window end that is safely complete: every archived Kafka partition has events past it by the source's
 * out-of-orderness bound plus the view's allowed lateness, aligned down to a window boundary (a multiple of the
 * size or slide, or the start of a calendar window in its time zone). The files' names say how far each partition
 * got.
 */
function defaultCutoff(files: readonly MasterFile[], config: Config, view: View): number {
  const newest = newestEventByPartition(files);
  const settings = sourceSettings(config, view.source.name);
  const safe = Math.min(...newest.values()) - settings.maxOutOfOrdernessMs - view.allowedLatenessMs;
  const starts = windowStartGranularity(view.window);
  return starts === undefined ? safe : timeGrid(starts).startOf(safe);
}
