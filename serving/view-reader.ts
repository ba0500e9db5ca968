import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { BatchViewReader, type BatchManifest } from '../batch/index.ts';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { Pacer } from '../shared/pacing/index.ts';
import type { Granularity } from '../shared/time/index.ts';
import { windowSpanMs, type View } from '../shared/views/index.ts';
import { readSpeedView, speedProgress, type SpeedProgress, type SpeedViewSource } from '../speed/index.ts';
import { SpeedKeys } from '../shared/speed-contract/index.ts';
import type { ReadBudget } from './read-limits.ts';
import { rollUpOrderAndLimit, type ResultRow, type StateRow } from './roll-up.ts';
import { queryKey, type ViewQuery } from './view-query.ts';
import { withTimeout } from './with-timeout.ts';

/** Rows the response cache may hold in all (about 100–300 MB of answers). */
const CACHE_MAX_ROWS = 1_000_000;
/** A key's characters counted as one row: a row takes some 100–300 bytes. */
const KEY_CHARS_PER_ROW = 100;

/**
 * The response cache: bounded by entries and by rows held, so a few huge answers cannot take the memory of thousands
 * of small ones; a key counts too, as its length in rows' worth, since a filter's values are in it: 5,000 answers keyed
 * by filters near `serving.limits.maxBodyBytes` would otherwise pin gigabytes.
 */
export function answerCache(entries: number): LRUCache<string, ViewAnswer> {
  return new LRUCache({ max: entries, maxSize: CACHE_MAX_ROWS, sizeCalculation: (answer, key) => answer.rows.length + 1 + Math.ceil(key.length / KEY_CHARS_PER_ROW) });
}

export interface TimeRange {
  readonly fromMs: number;
  readonly toMs: number;
}

/** What every answer says about where it came from. */
export interface Freshness {
  /** The batch version pinned for the request, and its cutoff: windows ending at or before it came from batch. */
  readonly batchVersion: number | null;
  readonly batchCutoffMs: number | null;
  /** The speed layer's watermark when the request was answered. */
  readonly speedWatermarkMs: number | null;
  /** The layers that contributed rows. */
  readonly layers: ReadonlyArray<'batch' | 'speed'>;
  /** Some of the range could not be served (see `missing`): numbers there may be too small. */
  readonly partial: boolean;
  readonly missing: readonly TimeRange[];
  /** The range and granularity answered (a roll-up widens the range to whole buckets), and the time zone of calendar buckets. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly granularity: Granularity;
  readonly timeZone: string;
  /** More rows matched than `limit`. */
  readonly truncated: boolean;
  /** Served from the response cache (same query, same batch version, same speed progress). */
  readonly cached: boolean;
}

export interface ViewAnswer {
  readonly rows: readonly ResultRow[];
  readonly meta: Freshness;
}

export interface ViewReaderOptions {
  readonly config: Config;
  readonly redis: Redis;
  /**
   * The speed layer's flush notifications. With them, a view's speed progress
   * is read from Redis once per flush (and at least every second, as idleness
   * moves the watermark) instead of once per request.
   */
  readonly updates?: { onFlush(view: string, listener: () => void): Promise<() => void> };
}

/** How long a view's speed progress is trusted without a flush notification (idle partitions move the watermark by the clock). */
const PROGRESS_TTL_MS = 1_000;

/** Ranges of `ranges` merged where they touch or overlap, clipped to [fromMs, toMs). */
export function coalesceRanges(ranges: readonly TimeRange[], fromMs: number, toMs: number): TimeRange[] {
  const clipped = ranges
    .map((range) => ({ fromMs: Math.max(range.fromMs, fromMs), toMs: Math.min(range.toMs, toMs) }))
    .filter((range) => range.fromMs < range.toMs)
    .sort((a, b) => a.fromMs - b.fromMs);
  const merged: TimeRange[] = [];
  for (const range of clipped) {
    const last = merged[merged.length - 1];
    if (last && range.fromMs <= last.toMs) merged[merged.length - 1] = { fromMs: last.fromMs, toMs: Math.max(last.toMs, range.toMs) };
    else merged.push(range);
  }
  return merged;
}

/**
 * The speed layer's retention horizon: it keeps about `retention` of event
 * time behind its watermark, so a range it must serve that starts earlier may
 * have lost data (sessions are deleted by exactly this rule; windows by a TTL
 * counted from their last write).
 */
export function retentionGap(view: View, watermarkMs: number | null, speedFromMs: number, toMs: number): TimeRange[] {
  if (watermarkMs === null) return [];
  const horizonMs = watermarkMs - view.retentionMs;
  return speedFromMs < horizonMs ? [{ fromMs: speedFromMs, toMs: Math.min(horizonMs, toMs) }] : [];
}

/**
 * A subscription's memory between its reads: what its last read kept that the next may reuse. Made empty by the
 * subscription, filled by each read.
 */
export interface ReadMemo {
  kept?: {
    readonly batchVersion: number | null;
    /** The batch side of that version and range. */
    readonly batch: BatchSide | undefined;
    /** The speed side's settled windows. */
    readonly speed: SettledSpeed | undefined;
  };
}

/** A read's batch side: its range (`from|to`), rows and whether the version had any there. */
interface BatchSide {
  readonly range: string;
  readonly rows: readonly StateRow[];
  readonly any: boolean;
}

/** The speed rows (and expired ranges) of windows starting in [fromMs, settledBeforeMs), which no flush changes. */
interface SettledSpeed {
  readonly fromMs: number;
  readonly settledBeforeMs: number;
  readonly rows: readonly StateRow[];
  readonly expired: readonly TimeRange[];
}

interface SpeedSide {
  readonly rows: StateRow[];
  readonly any: boolean;
  readonly missing: TimeRange[];
  readonly settled: SettledSpeed;
}

/** What reading either side of one request needs. */
interface SideRead {
  readonly query: ViewQuery;
  readonly step: (cells: number) => void;
  readonly pacer: Pacer;
  readonly where: ViewQuery['where'] | undefined;
  readonly kept: ReadMemo['kept'];
}

const timeoutError = (query: ViewQuery, timeoutMs: number) =>
  new BraidError(ErrorCode.TIMEOUT, `${query.view.name}: the query took longer than ${timeoutMs} ms`, { fields: { view: query.view.name } });

/**
 * Answers view queries by braiding the layers: one batch version is pinned per
 * request; windows ending at or before its cutoff come from it, later windows
 * from the speed view in Redis; both roll up by the same monoids. Sessions
 * follow the same rule by their end: a session that ends at or before the
 * cutoff is batch's, one that ends after it (even if it began before) is
 * speed's, whole. Answers are cached by query, batch version and speed progress.
 */
export class ViewReader {
  private readonly keys: SpeedKeys;
  private readonly cache: LRUCache<string, ViewAnswer> | null;
  /** Answers being computed, by cache key: identical concurrent misses share one computation. */
  private readonly inFlight = new Map<string, Promise<ViewAnswer>>();
  /** Per view: the latest speed progress and when it was read, until the next flush notification. */
  private readonly progress = new Map<string, { read: Promise<SpeedProgress>; atMs: number }>();
  private readonly unsubscribes: Array<Promise<() => void>> = [];
  private readonly listening = new Set<string>();

  private constructor(
    private readonly options: ViewReaderOptions,
    private readonly batch: BatchViewReader,
  ) {
    this.keys = new SpeedKeys(options.config.redis.keyPrefix);
    const entries = options.config.serving.cacheEntries;
    this.cache = entries > 0 ? answerCache(entries) : null;
  }

  static async open(options: ViewReaderOptions): Promise<ViewReader> {
    return new ViewReader(options, await BatchViewReader.open(options.config.dataDir));
  }

  private speedSource(view: View): SpeedViewSource {
    const settings = sourceSettings(this.options.config, view.source.name);
    return {
      redis: this.options.redis,
      keys: this.keys,
      maxOutOfOrdernessMs: settings?.maxOutOfOrdernessMs ?? 5_000,
      idleTimeoutMs: settings?.idleTimeoutMs ?? 30_000,
    };
  }

  /** What a view's answers rest on now: its live batch version and the speed layer's progress. */
  async freshness(view: View): Promise<{ readonly manifest: BatchManifest | null; readonly progress: SpeedProgress }> {
    return { manifest: this.batch.current(view), progress: await this.speedProgress(view) };
  }

  /** The speed layer's progress on a view (watermark and offsets), re-read after each of its flushes. */
  async speedProgress(view: View): Promise<SpeedProgress> {
    const { updates } = this.options;
    if (!updates) return speedProgress(this.speedSource(view), view);
    if (!this.listening.has(view.name)) {
      this.listening.add(view.name);
      const unsubscribe = updates.onFlush(view.name, () => this.progress.delete(view.name));
      this.unsubscribes.push(unsubscribe);
      await unsubscribe;
    }
    const known = this.progress.get(view.name);
    if (known && Date.now() - known.atMs < PROGRESS_TTL_MS) return known.read;
    const read = speedProgress(this.speedSource(view), view);
    this.progress.set(view.name, { read, atMs: Date.now() });
    read.catch(() => this.progress.delete(view.name));
    return read;
  }

  /**
   * Answers a query within the configured request timeout; a read that times out stops its work at its next step.
   * `budget` (the caller's) admits the read when it has work to do and is charged the cells it reads. A
   * subscription passes its {@link ReadMemo}: its reads skip the response cache and reuse what the one before
   * read that cannot have changed.
   */
  async query(query: ViewQuery, budget?: ReadBudget, memo?: ReadMemo): Promise<ViewAnswer> {
    const timeoutMs = this.options.config.serving.limits.requestTimeoutMs;
    const timedOut = new AbortController();
    return withTimeout(this.answer(query, budget, timedOut.signal, memo), timeoutMs, () => {
      timedOut.abort();
      return timeoutError(query, timeoutMs);
    });
  }

  private async answer(query: ViewQuery, budget: ReadBudget | undefined, signal: AbortSignal, memo: ReadMemo | undefined): Promise<ViewAnswer> {
    // A publish between pinning the version and reading speed may expire speed windows the pinned
    // version does not cover; the pointer is swapped before that, so re-checking it detects the race.
    for (let attempt = 0; ; attempt++) {
      const manifest = query.layer === 'speed' ? null : this.batch.current(query.view);
      const answer = await this.answerPinned(query, manifest, budget, signal, memo);
      if (query.layer !== 'merged' || attempt >= 3) return answer;
      const now = this.batch.current(query.view);
      if ((now?.version ?? null) === (manifest?.version ?? null)) return answer;
    }
  }

  private async answerPinned(query: ViewQuery, manifest: BatchManifest | null, budget: ReadBudget | undefined, signal: AbortSignal, memo: ReadMemo | undefined): Promise<ViewAnswer> {
    const { view, layer } = query;
    const progress = layer === 'batch' ? null : await this.speedProgress(view);
    if (memo) {
      const release = budget?.admit();
      return this.compute(query, manifest, progress, budget, signal, memo).finally(release);
    }
    const cacheKey = `${queryKey(query)}|${manifest?.version ?? '-'}|${progress?.signature ?? '-'}|${progress?.watermarkMs ?? '-'}`;
    const hit = this.cache?.get(cacheKey);
    if (hit) return { rows: hit.rows, meta: { ...hit.meta, cached: true } };
    const running = this.inFlight.get(cacheKey);
    if (running) return running;
    const release = budget?.admit();
    const computing = this.compute(query, manifest, progress, budget, signal, undefined).finally(release);
    this.inFlight.set(cacheKey, computing);
    try {
      const answer = await computing;
      this.cache?.set(cacheKey, answer);
      return answer;
    } finally {
      this.inFlight.delete(cacheKey);
    }
  }

  private async compute(
    query: ViewQuery,
    manifest: BatchManifest | null,
    progress: SpeedProgress | null,
    budget: ReadBudget | undefined,
    signal: AbortSignal,
    memo: ReadMemo | undefined,
  ): Promise<ViewAnswer> {
    const { view, layer } = query;
    const onAbort = () => timeoutError(query, this.options.config.serving.limits.requestTimeoutMs);
    const read: SideRead = {
      query,
      // Between steps: a timed-out read stops; the cells read so far are charged.
      step: (cells: number) => {
        if (signal.aborted) throw onAbort();
        budget?.charge(cells);
      },
      // Decoding and merging share the event loop a few milliseconds at a time: a heavy read never stalls the others.
      pacer: new Pacer({ signal, onAbort }),
      where: Object.keys(query.where).length > 0 ? query.where : undefined,
      // Sessions can grow and merge anywhere in their range: a subscription reads them whole each time.
      kept: view.window.type === 'session' ? undefined : memo?.kept,
    };
    const cutoffMs = manifest?.cutoffMs ?? null;
    const batch = manifest && cutoffMs !== null ? await this.readBatchSide(read, manifest, cutoffMs) : undefined;
    const missing: TimeRange[] = [];
    if (layer === 'batch') {
      const fromMs = cutoffMs === null ? query.fromMs : Math.max(query.fromMs, cutoffMs);
      if (fromMs < query.toMs) missing.push({ fromMs, toMs: query.toMs });
    }
    const speed = layer === 'batch' ? undefined : await this.readSpeedSide(read, manifest?.version ?? null, cutoffMs, progress);
    if (speed) missing.push(...speed.missing);
    if (memo) memo.kept = { batchVersion: manifest?.version ?? null, batch, speed: speed?.settled };

    const rows = [...(batch?.rows ?? []), ...(speed?.rows ?? [])];
    const layers: Array<'batch' | 'speed'> = [...(batch?.any ? ['batch' as const] : []), ...(speed?.any ? ['speed' as const] : [])];
    const gaps = coalesceRanges(missing, query.fromMs, query.toMs);
    const limited = await rollUpOrderAndLimit(view, rows, query.rollUp ? query.granularity : null, query.orderBy, query.limit, read.pacer);
    return {
      rows: limited.rows,
      meta: {
        batchVersion: manifest?.version ?? null,
        batchCutoffMs: cutoffMs,
        speedWatermarkMs: progress?.watermarkMs ?? null,
        layers,
        partial: gaps.length > 0,
        missing: gaps,
        fromMs: query.fromMs,
        toMs: query.toMs,
        granularity: query.granularity,
        timeZone: query.timeZone,
        truncated: limited.truncated,
        cached: false,
      },
    };
  }

  /** The pinned version's rows of the query's range (windows ending at or before its cutoff), or a subscription's from its last read. */
  private async readBatchSide(read: SideRead, manifest: BatchManifest, cutoffMs: number): Promise<BatchSide | undefined> {
    const { query, step, pacer, where, kept } = read;
    const { view } = query;
    // Batch windows all end at or before the cutoff, so they start before it.
    const toMs = query.layer === 'batch' ? query.toMs : Math.min(query.toMs, cutoffMs);
    if (query.fromMs >= toMs) return undefined;
    const range = `${query.fromMs}|${toMs}`;
    if (kept?.batch && kept.batchVersion === manifest.version && kept.batch.range === range) return kept.batch;
    const bounds = { fromMs: query.fromMs, toMs, version: manifest.version, pacer, ...(where ? { where } : {}) };
    // A roll-up's batch side is merged into buckets by DuckDB where every measure can be.
    const rolled = query.rollUp ? await this.batch.readRollUp(view, { ...bounds, endsByMs: cutoffMs, granularity: query.granularity }) : undefined;
    if (rolled) {
      step(rolled.scanned);
      return { range, rows: rolled.rows, any: rolled.scanned > 0 };
    }
    const { rows } = await this.batch.read(view, { ...bounds, includeState: true, finish: false });
    step(rows.length);
    return { range, rows: rows.filter((row) => row.windowEnd <= cutoffMs) as StateRow[], any: rows.length > 0 };
  }

  /**
   * The speed view's rows that the batch version does not cover, and the ranges it could not serve. A
   * subscription re-reads only windows starting from where its last read's settled windows end: a window is
   * settled once its end plus the view's allowed lateness is behind the watermark, and no flush changes it.
   */
  private async readSpeedSide(read: SideRead, batchVersion: number | null, cutoffMs: number | null, progress: SpeedProgress | null): Promise<SpeedSide | undefined> {
    const { query, step, pacer, where } = read;
    const { view, layer } = query;
    const speedOnly = layer === 'speed' || cutoffMs === null;
    // Fixed windows ending after the cutoff start after cutoff − (longest) size; a session can start any time before.
    const fromMs = speedOnly || view.window.type === 'session' ? query.fromMs : Math.max(query.fromMs, cutoffMs - windowSpanMs(view.window) + 1);
    if (fromMs >= query.toMs) return undefined;
    const watermarkMs = progress?.watermarkMs ?? null;
    const earlier = read.kept?.batchVersion === batchVersion ? read.kept.speed : undefined;
    // The settled windows of the last read cover [its fromMs, its settledBeforeMs): reused from fromMs on.
    const readFromMs = earlier && earlier.fromMs <= fromMs ? Math.min(Math.max(fromMs, earlier.settledBeforeMs), query.toMs) : fromMs;
    const inRange = (start: number) => start >= fromMs && start < readFromMs;
    const rows: StateRow[] = readFromMs > fromMs ? earlier!.rows.filter((row) => inRange(row.windowStart)) : [];
    const missing: TimeRange[] = readFromMs > fromMs ? earlier!.expired.filter((range) => inRange(range.fromMs)) : [];
    let any = rows.length > 0;
    if (readFromMs < query.toMs) {
      const speed = await readSpeedView(this.speedSource(view), view, {
        fromMs: readFromMs,
        toMs: query.toMs,
        includeState: true,
        // The roll-up finishes what the answer returns.
        finish: false,
        watermarkMs,
        pacer,
        ...(where ? { where } : {}),
      });
      step(speed.rows.length);
      for (const row of speed.rows) {
        if (speedOnly || row.windowEnd > cutoffMs) {
          rows.push(row as StateRow);
          any = true;
        }
      }
      for (const range of speed.expired) if (speedOnly || range.toMs > cutoffMs) missing.push(range);
    }
    // Settled: behind the slowest partition's watermark by the window's span and lateness, once every partition of
    // the source has flushed (a partition that has not could still take events for any window).
    const { slowest } = progress ?? {};
    const partitions = sourceSettings(this.options.config, view.source.name).partitions;
    const settledBeforeMs = slowest && slowest.partitions >= partitions ? Math.max(fromMs, slowest.watermarkMs - windowSpanMs(view.window) - view.allowedLatenessMs) : fromMs;
    const settled = {
      fromMs,
      settledBeforeMs,
      rows: rows.filter((row) => row.windowStart < settledBeforeMs),
      expired: missing.filter((range) => range.fromMs < settledBeforeMs),
    };
    const servedFromMs = speedOnly ? query.fromMs : Math.max(query.fromMs, cutoffMs);
    missing.push(...retentionGap(view, watermarkMs, servedFromMs, query.toMs));
    return { rows, any, missing, settled };
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribes) (await unsubscribe)();
    this.batch.close();
  }
}
