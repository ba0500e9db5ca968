import { BraidError, ErrorCode } from '../errors/index.ts';
import { formatDurationMs, parseDurationMs } from '../time/index.ts';

/**
 * Event-time windows. Every window is `[start, end)` in epoch milliseconds,
 * aligned to the epoch (a 1-minute window starts on a whole minute, UTC).
 */
export type WindowSpec =
  | { readonly type: 'tumbling'; readonly sizeMs: number }
  | { readonly type: 'sliding'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly type: 'session'; readonly gapMs: number };

function durationArg(what: string, value: string | number): number {
  const parsed = parseDurationMs(value);
  if (parsed === undefined || parsed <= 0 || !Number.isInteger(parsed)) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `${what}: expected a positive duration such as '10s', '1m' or '1h', got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/**
 * Fixed-size, non-overlapping windows.
 * @example tumbling('1m') // [12:00, 12:01), [12:01, 12:02), …
 */
export function tumbling(size: string | number): WindowSpec {
  return { type: 'tumbling', sizeMs: durationArg('tumbling(size)', size) };
}

/**
 * Fixed-size windows that start every `slide`; each event is in size/slide windows.
 * `size` must be a whole multiple of `slide`.
 * @example sliding('5m', '1m') // [12:00, 12:05), [12:01, 12:06), …
 */
export function sliding(size: string | number, slide: string | number): WindowSpec {
  const sizeMs = durationArg('sliding(size)', size);
  const slideMs = durationArg('sliding(slide)', slide);
  if (sizeMs % slideMs !== 0) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `sliding(${formatDurationMs(sizeMs)}, ${formatDurationMs(slideMs)}): size must be a whole multiple of slide`);
  }
  return { type: 'sliding', sizeMs, slideMs };
}

/**
 * Per-key activity windows: an event at t opens `[t, t + gap)`; overlapping
 * windows of a key merge (Flink's merging-window semantics). So two events of
 * a key are in one session when less than `gap` apart.
 * @example session('30m')
 */
export function session(gap: string | number): WindowSpec {
  return { type: 'session', gapMs: durationArg('session(gap)', gap) };
}

/** Start of the tumbling/sliding pane containing `timeMs` (floor to a multiple of `stepMs`, also for negative times). */
export function alignDown(timeMs: number, stepMs: number): number {
  return Math.floor(timeMs / stepMs) * stepMs;
}

/**
 * Starts of the fixed windows containing `timeMs`, earliest first: one for
 * tumbling, size/slide for sliding. (Sessions are assigned by the session operator.)
 */
export function windowStartsFor(spec: WindowSpec, timeMs: number): number[] {
  if (spec.type === 'tumbling') return [alignDown(timeMs, spec.sizeMs)];
  if (spec.type === 'sliding') {
    const last = alignDown(timeMs, spec.slideMs);
    const starts: number[] = [];
    for (let start = last - spec.sizeMs + spec.slideMs; start <= last; start += spec.slideMs) starts.push(start);
    return starts;
  }
  throw new Error('session windows are assigned by the session operator');
}

/** Length of a fixed window (tumbling or sliding). */
export function windowSizeMs(spec: WindowSpec): number {
  if (spec.type === 'session') throw new Error('session windows have no fixed size');
  return spec.sizeMs;
}

/** Short human text: `tumbling 1m`, `sliding 5m every 1m`, `session gap 30m`. */
export function describeWindow(spec: WindowSpec): string {
  if (spec.type === 'tumbling') return `tumbling ${formatDurationMs(spec.sizeMs)}`;
  if (spec.type === 'sliding') return `sliding ${formatDurationMs(spec.sizeMs)} every ${formatDurationMs(spec.slideMs)}`;
  return `session gap ${formatDurationMs(spec.gapMs)}`;
}
