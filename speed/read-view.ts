import type { Redis } from 'ioredis';
import { assertNever } from '../shared/errors/index.ts';
import type { CountsStorage, Measure, PartitionStorage } from '../shared/measures/index.ts';
import type { Pacer } from '../shared/pacing/index.ts';
import { windowEndFor, type View } from '../shared/views/index.ts';
import { decodeGroupKey, encodeGroupKey, type DimensionValue } from './group-key.ts';
import { decodeStoredSession } from './operators/index.ts';
import { cellField, FIELD_SEPARATOR, ROW_COUNT, SpeedKeys } from '../shared/speed-contract/index.ts';

export interface SpeedRow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly dimensions: Record<string, DimensionValue>;
  /** Finished measure values by measure name. */
  readonly measures: Record<string, unknown>;
  /** Mergeable measure state (the measure's monoid state), when asked for. */
  readonly state?: Record<string, unknown>;
  /** The watermark has passed the window's end (it may still change within allowed lateness). */
  readonly final: boolean;
}

export interface SpeedReadResult {
  readonly rows: SpeedRow[];
  /**
   * Windows in the range the speed layer once held but whose data has expired
   * (retention), as [fromMs, toMs) ranges: the speed view is incomplete there.
   */
  readonly expired: ReadonlyArray<{ readonly fromMs: number; readonly toMs: number }>;
  /** Watermark of the group computing the view: min over its non-idle partitions; null before any event. */
  readonly watermarkMs: number | null;
}

export interface SpeedReadQuery {
  /** Windows whose start is in [fromMs, toMs). */
  readonly fromMs: number;
  readonly toMs: number;
  /** Dimension name → accepted values. */
  readonly where?: Readonly<Record<string, ReadonlyArray<DimensionValue>>>;
  /** Also return each measure's mergeable state. */
  readonly includeState?: boolean;
  /** Finish each measure (the default); false, with `includeState`, when the caller merges and finishes the states itself. */
  readonly finish?: boolean;
  /** The watermark, when the caller has just read it (saves reading it again). */
  readonly watermarkMs?: number | null;
  /** Shares the event loop while cells are decoded (and stops the read when its signal aborts). */
  readonly pacer?: Pacer;
}

export interface SpeedViewSource {
  readonly redis: Redis;
  readonly keys: SpeedKeys;
  /** The view's source settings (watermark bound and idleness). */
  readonly maxOutOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
}

/** How far the speed layer has got with a view: its watermark, and a signature that changes with every flush that consumed events. */
export interface SpeedProgress {
  readonly watermarkMs: number | null;
  /**
   * The lowest watermark of every partition that has flushed, idle ones included, and how many those are: a
   * window whose end plus the view's allowed lateness is behind it takes no more events from any of them.
   */
  readonly slowest?: { readonly watermarkMs: number; readonly partitions: number };
  /** The stored offsets of the view's partitions, joined; equal signatures mean equal speed data. */
  readonly signature: string;
}

/**
 * The consumer group computing `view` and its partitions hash (`o:`, `t:` and `s:` fields per
 * `<topic>:<partition>`, see redis-keys.ts), or null before the view's first flush.
 */
async function groupPartitions(target: SpeedViewSource, view: View): Promise<{ group: string; fields: Record<string, string> } | null> {
  const group = await target.redis.get(target.keys.viewGroup(view.name));
  return group === null ? null : { group, fields: await target.redis.hgetall(target.keys.partitions(group)) };
}

/** The watermark of the group computing `view`, and its offsets as a signature, from what its workers flushed. */
export async function speedProgress(target: SpeedViewSource, view: View, nowMs = Date.now()): Promise<SpeedProgress> {
  const partitions = await groupPartitions(target, view);
  if (partitions === null) return { watermarkMs: null, signature: '' };
  const { group, fields } = partitions;
  let active = Infinity;
  let any = -Infinity;
  let lowest = Infinity;
  let flushed = 0;
  const offsets: string[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith('o:')) offsets.push(`${field.slice(2)}=${value}`);
    if (!field.startsWith('t:')) continue;
    const watermark = Number(value) - target.maxOutOfOrdernessMs;
    any = Math.max(any, watermark);
    lowest = Math.min(lowest, watermark);
    flushed++;
    const seen = Number(fields[`s:${field.slice(2)}`] ?? 0);
    if (nowMs - seen <= target.idleTimeoutMs) active = Math.min(active, watermark);
  }
  const watermarkMs = Number.isFinite(active) ? active : Number.isFinite(any) ? any : null;
  return { watermarkMs, signature: `${group}|${offsets.sort().join(',')}`, ...(flushed > 0 ? { slowest: { watermarkMs: lowest, partitions: flushed } } : {}) };
}

/** The watermark of the group computing `view`, from what its workers flushed. */
export async function speedWatermark(target: SpeedViewSource, view: View, nowMs = Date.now()): Promise<number | null> {
  return (await speedProgress(target, view, nowMs)).watermarkMs;
}

function matches(dimensions: Record<string, DimensionValue>, where: SpeedReadQuery['where']): boolean {
  if (!where) return true;
  for (const [name, accepted] of Object.entries(where)) {
    if (!accepted.includes(dimensions[name] ?? null)) return false;
  }
  return true;
}

/**
 * Reads a speed view over a time range: finished measures per window and
 * group, optionally with mergeable state, plus the current watermark.
 *
 * @example
 * const { rows, watermarkMs } = await readSpeedView(target, pageViews, { fromMs: Date.now() - 3_600_000, toMs: Date.now(), where: { url: ['/'] } });
 */
export async function readSpeedView(target: SpeedViewSource, view: View, query: SpeedReadQuery): Promise<SpeedReadResult> {
  const watermarkMs = query.watermarkMs !== undefined ? query.watermarkMs : await speedWatermark(target, view);
  const expired: Array<{ fromMs: number; toMs: number }> = [];
  const rows = view.window.type === 'session' ? await readSessions(target, view, query, watermarkMs) : await readFixedWindows(target, view, query, watermarkMs, expired);
  // Each row's dimension text once, not once per comparison.
  const order = new Map(rows.map((row) => [row, JSON.stringify(row.dimensions)]));
  rows.sort((a, b) => a.windowStart - b.windowStart || (order.get(a)! < order.get(b)! ? -1 : order.get(a)! > order.get(b)! ? 1 : 0));
  return { rows, watermarkMs, expired };
}

/** Above this many pinned groups a window is fetched whole (one HGETALL beats a huge HMGET). */
const MAX_PINNED_GROUPS = 64;

/**
 * The group keys a filter allows, when it pins every dimension to a few
 * values (then only their fields need reading); null when it does not.
 */
function pinnedGroupKeys(view: View, where: SpeedReadQuery['where']): string[] | null {
  if (!where || view.dimensions.length === 0) return null;
  let combinations: Array<Record<string, DimensionValue>> = [{}];
  for (const dimension of view.dimensions) {
    const accepted = where[dimension.name];
    if (!accepted) return null;
    combinations = combinations.flatMap((partial) => accepted.map((value) => ({ ...partial, [dimension.name]: value })));
    if (combinations.length > MAX_PINNED_GROUPS) return null;
  }
  return [...new Set(combinations.map((values) => encodeGroupKey(view.dimensions, values)))];
}

/** The hash fields that hold a group's state in a window hash: its row count and its cell-stored measures' fields. */
function groupFields(view: View, groupKey: string): string[] {
  const fields = [cellField(groupKey, ROW_COUNT)];
  for (const { name, measure } of view.measures) {
    const storage = measure.speed.storage;
    if (storage.type === 'cell') for (const field of storage.fields(name)) fields.push(cellField(groupKey, field));
  }
  return fields;
}

/** A window hash's fields by group key: from HGETALL (all groups) or from HMGET of pinned groups' fields. */
function cellsByGroup(hash: Record<string, string>): Map<string, Record<string, string>> {
  const byGroup = new Map<string, Record<string, string>>();
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf(FIELD_SEPARATOR);
    const groupKey = field.slice(0, cut);
    let cell = byGroup.get(groupKey);
    if (!cell) byGroup.set(groupKey, (cell = {}));
    cell[field.slice(cut + 1)] = value;
  }
  return byGroup;
}

async function readFixedWindows(
  target: SpeedViewSource,
  view: View,
  query: SpeedReadQuery,
  watermarkMs: number | null,
  expired: Array<{ fromMs: number; toMs: number }>,
): Promise<SpeedRow[]> {
  const { redis, keys } = target;
  if (view.window.type === 'session') return [];
  const window = view.window;
  const starts = (await redis.zrangebyscore(keys.windows(view.name), String(query.fromMs), `(${query.toMs}`)).map(Number);
  if (starts.length === 0) return [];

  // One round trip for every window: whole hashes, or (a filter pinning every dimension) only the pinned groups' fields.
  const pinned = pinnedGroupKeys(view, query.where);
  const pinnedFields = pinned?.flatMap((groupKey) => groupFields(view, groupKey));
  const reads = redis.pipeline();
  for (const start of starts) {
    const key = keys.window(view.name, start);
    if (pinnedFields) reads.exists(key).hmget(key, ...pinnedFields);
    else reads.hgetall(key);
  }
  const replies = await reads.exec();
  const hashes: Array<Record<string, string> | null> = starts.map((_, index) => {
    if (!pinnedFields) {
      const [error, hash] = replies![index]!;
      if (error) throw error;
      const fields = hash as Record<string, string>;
      return Object.keys(fields).length === 0 ? null : fields;
    }
    const [existsError, exists] = replies![2 * index]!;
    const [error, values] = replies![2 * index + 1]!;
    if (existsError ?? error) throw existsError ?? error;
    if (exists === 0) return null;
    const fields: Record<string, string> = {};
    (values as Array<string | null>).forEach((value, at) => {
      if (value !== null) fields[pinnedFields[at]!] = value;
    });
    return fields;
  });

  const rows: SpeedRow[] = [];
  const finish = query.finish !== false || !query.includeState;
  const sketches = redis.pipeline();
  const countsTargets: Array<{ state: Record<string, unknown>; measures: Record<string, unknown>; name: string; measure: Measure; storage: CountsStorage<unknown> }> = [];
  const partitionTargets: PartitionTarget[] = [];
  const pacer = query.pacer;
  for (let index = 0; index < starts.length; index++) {
    const start = starts[index]!;
    const hash = hashes[index];
    const windowEnd = windowEndFor(window, start);
    // Still indexed, no longer stored: the window's retention ran out before the batch layer took it over.
    if (hash === null) {
      expired.push({ fromMs: start, toMs: windowEnd });
      continue;
    }
    for (const [groupKey, cell] of cellsByGroup(hash!)) {
      const turn = pacer?.pace();
      if (turn) await turn;
      if (cell[ROW_COUNT] === undefined) continue;
      const dimensions = decodeGroupKey(view.dimensions, groupKey);
      if (!matches(dimensions, query.where)) continue;
      const measures: Record<string, unknown> = {};
      const state: Record<string, unknown> = {};
      for (const { name, measure } of view.measures) {
        const storage = measure.speed.storage;
        switch (storage.type) {
          case 'cell':
            state[name] = storage.fromCell(cell, name);
            if (finish) measures[name] = measure.finish(state[name]);
            break;
          case 'counts':
            sketches.zrange(keys.topK(view.name, start, name, groupKey), '0', '-1', 'WITHSCORES');
            countsTargets.push({ state, measures, name, measure, storage });
            break;
          case 'partitions':
            partitionTargets.push({ start, groupKey, state, measures, name, measure, storage });
            break;
          default:
            assertNever(storage);
        }
      }
      rows.push({
        windowStart: start,
        windowEnd,
        dimensions,
        measures,
        ...(query.includeState ? { state } : {}),
        final: watermarkMs !== null && windowEnd <= watermarkMs,
      });
    }
  }
  if (countsTargets.length > 0) {
    const replies = (await sketches.exec())!;
    countsTargets.forEach(({ state, measures, name, measure, storage }, index) => {
      const [error, reply] = replies[index]!;
      if (error) throw error;
      state[name] = storage.fromCounts(reply as string[]);
      if (finish) measures[name] = measure.finish(state[name]);
    });
  }
  if (partitionTargets.length > 0) {
    const parts = await readPartitionStates(target, view, partitionTargets, pinned);
    for (const { start, groupKey, state, measures, name, measure, storage } of partitionTargets) {
      state[name] = storage.fromPartitions(parts.get(partitionCell(start, name, groupKey)) ?? []);
      if (finish) measures[name] = measure.finish(state[name]);
      const turn = pacer?.pace();
      if (turn) await turn;
    }
  }
  return rows;
}

/** A cell of a partition-stored measure, to be read and merged from its partitions' states. */
interface PartitionTarget {
  readonly start: number;
  readonly groupKey: string;
  readonly state: Record<string, unknown>;
  readonly measures: Record<string, unknown>;
  readonly name: string;
  readonly measure: Measure;
  readonly storage: PartitionStorage<unknown>;
}

const partitionCell = (start: number, measure: string, groupKey: string) => `${start}${FIELD_SEPARATOR}${measure}${FIELD_SEPARATOR}${groupKey}`;

/**
 * The stored partition states of the cells asked for (one entry per partition that wrote the cell), keyed by
 * {@link partitionCell}. Whole partition-state hashes, or, when a filter pins every dimension, only the
 * pinned groups' fields of each partition that has stored an offset.
 */
async function readPartitionStates(
  target: SpeedViewSource,
  view: View,
  cells: ReadonlyArray<{ start: number; groupKey: string; name: string }>,
  pinned: string[] | null,
): Promise<Map<string, Uint8Array[]>> {
  const { redis, keys } = target;
  let fields: string[] | undefined;
  if (pinned) {
    const stored = Object.keys((await groupPartitions(target, view))?.fields ?? {});
    // Offset fields are `o:<topic>:<partition>`; sketch fields start with `<topic>:<partition>`.
    const tags = stored.filter((field) => field.startsWith('o:')).map((field) => field.slice(2));
    fields = tags.flatMap((tag) => pinned.map((groupKey) => `${tag}${FIELD_SEPARATOR}${groupKey}`));
    if (fields.length === 0) return new Map();
  }
  const sources: Array<{ start: number; name: string }> = [];
  const seen = new Set<string>();
  for (const { start, name } of cells) {
    const id = `${start}${FIELD_SEPARATOR}${name}`;
    if (seen.has(id)) continue;
    seen.add(id);
    sources.push({ start, name });
  }
  const reads = redis.pipeline();
  for (const { start, name } of sources) {
    if (fields) reads.hmgetBuffer(keys.sketches(view.name, start, name), ...fields);
    else reads.hgetallBuffer(keys.sketches(view.name, start, name));
  }
  const replies = (await reads.exec())!;
  const parts = new Map<string, Uint8Array[]>();
  const mergeField = (start: number, name: string, field: string, bytes: Buffer | null) => {
    if (bytes === null) return;
    const groupKey = field.slice(field.indexOf(FIELD_SEPARATOR) + 1);
    const id = partitionCell(start, name, groupKey);
    const cell = parts.get(id);
    if (cell === undefined) parts.set(id, [bytes]);
    else cell.push(bytes);
  };
  sources.forEach(({ start, name }, index) => {
    const [error, reply] = replies[index]!;
    if (error) throw error;
    if (fields) (reply as Array<Buffer | null>).forEach((bytes, at) => mergeField(start, name, fields[at]!, bytes));
    else for (const [field, bytes] of Object.entries(reply as Record<string, Buffer>)) mergeField(start, name, field, bytes);
  });
  return parts;
}

async function readSessions(target: SpeedViewSource, view: View, query: SpeedReadQuery, watermarkMs: number | null): Promise<SpeedRow[]> {
  const { redis, keys } = target;
  const ids = await redis.zrangebyscore(keys.sessionIndex(view.name), String(query.fromMs), `(${query.toMs}`);
  if (ids.length === 0) return [];
  const stored = await redis.hmget(keys.sessions(view.name), ...ids);
  const finish = query.finish !== false || !query.includeState;
  const rows: SpeedRow[] = [];
  for (let index = 0; index < ids.length; index++) {
    const text = stored[index];
    if (text === null || text === undefined) continue;
    const session = decodeStoredSession(ids[index]!, text);
    const dimensions = decodeGroupKey(view.dimensions, session.k);
    if (!matches(dimensions, query.where)) continue;
    const measures: Record<string, unknown> = {};
    const state: Record<string, unknown> = {};
    view.measures.forEach(({ name, measure }, index) => {
      state[name] = measure.deserialize(session.m[index]!);
      if (finish) measures[name] = measure.finish(state[name]);
    });
    rows.push({
      windowStart: session.s,
      windowEnd: session.e,
      dimensions,
      measures,
      ...(query.includeState ? { state } : {}),
      final: watermarkMs !== null && session.e <= watermarkMs,
    });
  }
  return rows;
}
