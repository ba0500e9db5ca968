/** How long a stretch of synchronous work may hold the event loop before a {@link Pacer} hands it back. */
const DEFAULT_SLICE_MS = 3;
/** Items between two readings of the clock. */
const CHECK_EVERY = 128;

/** Paced work waiting for its next slice, first come first served. */
const waiting: Array<() => void> = [];
let granting = false;

/** One waiting slice per turn of the event loop: between two slices, Node polls for I/O and runs timers. */
function grantNext(): void {
  granting = false;
  waiting.shift()?.();
  if (waiting.length > 0) scheduleGrant();
}

function scheduleGrant(): void {
  if (granting) return;
  granting = true;
  setImmediate(grantNext);
}

/**
 * Shares the event loop during long synchronous work, such as decoding and merging the rows of a large read:
 * called once per item of a loop, {@link Pacer.pace} returns undefined while the current stretch of work is
 * shorter than its slice, and past it a promise that resolves when the work's next slice is due. Slices of all
 * pacers in the process take turns, one per turn of the event loop, so however many heavy reads run, a health
 * check or a small read waits for about one slice, not for whole reads. With a `signal`, the promise rejects
 * with `onAbort()` once the signal is aborted, so a read that timed out stops at its next slice.
 *
 * @example
 * const pacer = new Pacer({ signal });
 * for (const row of rows) {
 *   merge(row);
 *   const turn = pacer.pace();
 *   if (turn) await turn;
 * }
 */
export class Pacer {
  private sliceStartMs = performance.now();
  private calls = 0;
  private readonly sliceMs: number;

  constructor(private readonly options: { readonly sliceMs?: number; readonly signal?: AbortSignal; readonly onAbort?: () => Error } = {}) {
    this.sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
  }

  /** Undefined while the slice lasts (no promise, no microtask: cheap in a hot loop); past it, the wait for the next slice. */
  pace(): Promise<void> | undefined {
    if (++this.calls % CHECK_EVERY !== 0) return undefined;
    if (performance.now() - this.sliceStartMs < this.sliceMs) return undefined;
    return this.turn();
  }

  /** Waits for this work's next slice, whatever the current one's length; rejects if the signal was aborted meanwhile. */
  async turn(): Promise<void> {
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      scheduleGrant();
    });
    this.sliceStartMs = performance.now();
    const { signal, onAbort } = this.options;
    if (signal?.aborted) throw onAbort ? onAbort() : new Error('aborted');
  }
}
