import type { Redis } from 'ioredis';
import type { FlushProgram } from '../flush-program.ts';
import { FIELD_SEPARATOR } from '../../shared/speed-contract/index.ts';
import { arrayOf, windowAcceptsAt, type Operator, type OperatorContext } from './operator.ts';

interface Session {
  /** sessionId(groupKey, start), kept so the hot path builds no strings. */
  id: string;
  /** Already in Redis's session index and the partition's open set (they change only when the id does). */
  indexed: boolean;
  groupKey: string;
  start: number;
  /** Exclusive: last event time + gap. */
  end: number;
  rows: number;
  states: unknown[];
  /** In `dirty` (to be written at the next checkpoint): a flag, so the hot path does no map update per event. */
  dirty: boolean;
  /** Replaced by a merged session: skipped where `dirty` still lists it. */
  replaced: boolean;
}

/** A `byKey` entry as a list (a new one-element list for a single session), or undefined. */
function asList(entry: Session | Session[] | undefined): Session[] | undefined {
  return entry === undefined ? undefined : Array.isArray(entry) ? entry : [entry];
}

/** A session read back from Redis (see {@link encodeStoredSession}). */
export interface StoredSession {
  /** group key */
  k: string;
  s: number;
  e: number;
  n: number;
  /** serialized measure states, in the view's measure order */
  m: string[];
}

export function sessionId(groupKey: string, startMs: number): string {
  return `${groupKey}${FIELD_SEPARATOR}${startMs}`;
}

/**
 * A session's value in the `view:<v>:sessions` hash, whose field is the
 * session's id (group key and start): `[end, rows, ...serialized measure
 * states]` as JSON. Every open session is rewritten at every flush, so the
 * value carries nothing the id already says.
 */
export function encodeStoredSession(endMs: number, rows: number, states: readonly string[]): string {
  let text = `[${endMs},${rows}`;
  for (const state of states) text += isPlainJsonText(state) ? `,"${state}"` : `,${JSON.stringify(state)}`;
  return `${text}]`;
}

/** True when `text` is printable ASCII with no quote or backslash: JSON then quotes it as it is (most measure states). */
function isPlainJsonText(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return false;
  }
  return true;
}

/** The session stored under `id` with value `text`. */
export function decodeStoredSession(id: string, text: string): StoredSession {
  const value = JSON.parse(text) as unknown[];
  const at = id.lastIndexOf(FIELD_SEPARATOR);
  return { k: id.slice(0, at), s: Number(id.slice(at + 1)), e: value[0] as number, n: value[1] as number, m: value.slice(2) as string[] };
}

/**
 * Session windows (Flink's merging semantics): each event opens
 * `[t, t + gap)`; windows of a key that overlap merge, so events less than
 * `gap` apart share a session. Needs every event of a key in one partition
 * (the view groups by the Kafka key). Open sessions live in memory and, at
 * every flush, in full in Redis — writing a whole session is idempotent — with
 * the partition's open set, so a new owner of the partition restores them.
 * A session closes once the partition watermark passes its end + allowed
 * lateness, and its state leaves memory (as Flink purges it): a later event of
 * that key opens a new session even if it falls within `gap` of the closed one
 * — unless its own window is already past the lateness bound, which makes it late.
 * Closing is decided from the partition's watermark as each event arrives,
 * never from when flushes happen, so a replay merges exactly as the first run.
 */
export class SessionWindowOperator implements Operator {
  private readonly gapMs: number;
  /** A key's open sessions, by start: the session itself when it is the only one (most keys), saving a load per event. */
  private byKey = new Map<string, Session | Session[]>();
  /** Sessions to write at the next checkpoint (those since replaced by a merge are skipped there). */
  private dirty: Session[] = [];
  private removed = new Set<string>();
  /** Ids closed since the last checkpoint (to leave the partition's open set). */
  private closed = new Set<string>();
  /**
   * At most the earliest end of any open session (ends only grow, so it stays a lower bound):
   * while the watermark has not passed it, a checkpoint has nothing to close and skips the scan
   * over every key.
   */
  private earliestEndMs = Infinity;

  constructor(private readonly context: OperatorContext) {
    if (context.view.window.type !== 'session') throw new Error(`view ${context.view.name} is not a session view`);
    this.gapMs = context.view.window.gapMs;
  }

  /** Sessions keep their measure states in the session itself. */
  readonly heldSketches = 0;

  get pendingCells(): number {
    return this.dirty.length + this.removed.size + this.closed.size;
  }

  async onStart(redis: Redis): Promise<void> {
    const { view, keys, topic, partition } = this.context;
    this.onClose();
    const ids = await redis.hkeys(keys.openSessions(view.name, topic, partition));
    if (ids.length === 0) return;
    const stored = await redis.hmget(keys.sessions(view.name), ...ids);
    for (let index = 0; index < ids.length; index++) {
      const text = stored[index];
      if (text === null || text === undefined) continue;
      const session = decodeStoredSession(ids[index]!, text);
      const list = this.listOf(session.k) ?? [];
      list.push({
        id: sessionId(session.k, session.s),
        indexed: true,
        groupKey: session.k,
        start: session.s,
        end: session.e,
        rows: session.n,
        states: arrayOf(view.measures.length, (index) => view.measures[index]!.measure.deserialize(session.m[index]!)),
        dirty: false,
        replaced: false,
      });
      list.sort((a, b) => a.start - b.start);
      this.keep(session.k, list);
      this.earliestEndMs = Math.min(this.earliestEndMs, session.e);
    }
  }

  process(event: Record<string, unknown>, groupKey: string, eventTimeMs: number, partitionWatermarkMs: number): boolean {
    const { view } = this.context;
    // Sessions the watermark has closed are gone before this event is merged. Deciding it here, from
    // the event sequence alone (the watermark only rises), keeps merges independent of when flushes happen.
    const entry = this.byKey.get(groupKey);

    // Fastest path, the most common case: the key's one session is open and holds the event, which is
    // no earlier than its start. Updated in place: no new session, no re-sort, no id change.
    if (entry !== undefined && !Array.isArray(entry)) {
      const session = entry;
      if (
        session.start <= eventTimeMs &&
        eventTimeMs < session.end &&
        windowAcceptsAt(session.end, view.allowedLatenessMs, partitionWatermarkMs)
      ) {
        return this.extend(session, event, eventTimeMs, partitionWatermarkMs);
      }
    }
    let list = asList(entry);

    // Fast path: none of the key's sessions is closed, and the event falls inside one of them that
    // starts no later than it. One scan; updated in place as above.
    if (list !== undefined) {
      let hit: Session | undefined;
      let overlaps = 0;
      let anyClosed = false;
      for (let index = 0; index < list.length; index++) {
        const session = list[index]!;
        if (!windowAcceptsAt(session.end, view.allowedLatenessMs, partitionWatermarkMs)) {
          anyClosed = true;
          break;
        }
        if (session.start < eventTimeMs + this.gapMs && eventTimeMs < session.end) {
          overlaps++;
          hit = session;
        }
      }
      if (anyClosed) list = this.evictClosed(groupKey, partitionWatermarkMs);
      else if (overlaps === 1 && hit!.start <= eventTimeMs) return this.extend(hit!, event, eventTimeMs, partitionWatermarkMs);
    }

    let start = eventTimeMs;
    let end = eventTimeMs + this.gapMs;
    const overlapping: Session[] = [];
    if (list) {
      for (const session of list) {
        if (session.start < eventTimeMs + this.gapMs && eventTimeMs < session.end) {
          overlapping.push(session);
          start = Math.min(start, session.start);
          end = Math.max(end, session.end);
        }
      }
    }
    if (!windowAcceptsAt(end, view.allowedLatenessMs, partitionWatermarkMs)) return false;

    const states = arrayOf(view.measures.length, (index) => {
      const { measure } = view.measures[index]!;
      return measure.add(measure.zero(), measure.field === undefined ? undefined : event[measure.field]);
    });
    let rows = 1;
    for (const old of overlapping) {
      rows += old.rows;
      view.measures.forEach(({ measure }, index) => {
        states[index] = measure.merge(old.states[index], states[index]);
      });
    }
    const mergedId = sessionId(groupKey, start);
    const merged: Session = {
      id: mergedId,
      indexed: overlapping.some((old) => old.id === mergedId && old.indexed),
      groupKey,
      start,
      end,
      rows,
      states,
      dirty: true,
      replaced: false,
    };
    const kept = (list ?? []).filter((session) => !overlapping.includes(session));
    for (const old of overlapping) {
      old.replaced = true;
      if (old.id !== mergedId) this.removed.add(old.id);
    }
    kept.push(merged);
    kept.sort((a, b) => a.start - b.start);
    this.earliestEndMs = Math.min(this.earliestEndMs, end);
    this.keep(groupKey, kept);
    this.dirty.push(merged);
    this.removed.delete(mergedId);
    return true;
  }

  /** Adds an event to `session`, which holds it and starts no later than it; false if that would extend it past the lateness bound. */
  private extend(session: Session, event: Record<string, unknown>, eventTimeMs: number, partitionWatermarkMs: number): boolean {
    const { view } = this.context;
    const end = Math.max(session.end, eventTimeMs + this.gapMs);
    if (!windowAcceptsAt(end, view.allowedLatenessMs, partitionWatermarkMs)) return false;
    session.end = end;
    session.rows++;
    const measures = view.measures;
    for (let index = 0; index < measures.length; index++) {
      const measure = measures[index]!.measure;
      session.states[index] = measure.add(session.states[index], measure.field === undefined ? undefined : event[measure.field]);
    }
    if (!session.dirty) {
      session.dirty = true;
      this.dirty.push(session);
    }
    return true;
  }

  /** A key's open sessions as a list (a new one-element list for a single session), or undefined. */
  private listOf(groupKey: string): Session[] | undefined {
    return asList(this.byKey.get(groupKey));
  }

  /** Stores a key's open sessions (non-empty, sorted by start): the session alone when there is one. */
  private keep(groupKey: string, list: Session[]): void {
    this.byKey.set(groupKey, list.length === 1 ? list[0]! : list);
  }

  /** Drops a key's sessions whose end + allowed lateness the watermark has reached; returns those left open. */
  private evictClosed(groupKey: string, partitionWatermarkMs: number): Session[] | undefined {
    const list = this.listOf(groupKey);
    if (!list) return undefined;
    const lateness = this.context.view.allowedLatenessMs;
    let anyClosed = false;
    for (let index = 0; index < list.length; index++) {
      if (!windowAcceptsAt(list[index]!.end, lateness, partitionWatermarkMs)) {
        anyClosed = true;
        break;
      }
    }
    if (!anyClosed) return list;
    const open = list.filter((session) => windowAcceptsAt(session.end, this.context.view.allowedLatenessMs, partitionWatermarkMs));
    if (open.length === list.length) return list;
    for (const session of list) if (!open.includes(session)) this.closed.add(session.id);
    if (open.length === 0) this.byKey.delete(groupKey);
    else this.keep(groupKey, open);
    return open.length === 0 ? undefined : open;
  }

  onWatermark(_partitionWatermarkMs: number): void {
    // Sessions are closed at checkpoints, where closing is also written down.
  }

  onCheckpoint(program: FlushProgram, partitionWatermarkMs: number): void {
    const { view, keys, group, topic, partition } = this.context;
    const hashKey = keys.sessions(view.name);
    const indexKey = keys.sessionIndex(view.name);
    const openKey = keys.openSessions(view.name, topic, partition);

    // Evicting here removes only what process() would evict before the next event of each key anyway.
    if (!windowAcceptsAt(this.earliestEndMs, view.allowedLatenessMs, partitionWatermarkMs)) {
      let earliest = Infinity;
      for (const groupKey of [...this.byKey.keys()]) {
        for (const session of this.evictClosed(groupKey, partitionWatermarkMs) ?? []) earliest = Math.min(earliest, session.end);
      }
      this.earliestEndMs = earliest;
    }
    const closed = this.closed;
    if (this.dirty.length === 0 && this.removed.size === 0 && closed.size === 0) return;

    // Key by key (sessions, index, open set), so the flush script sees long runs of one kind of op on one key.
    const fresh = this.writeDirty(program, hashKey);
    for (const id of this.removed) program.hDel(hashKey, id);
    for (const session of fresh) program.zAdd(indexKey, session.start, session.id);
    for (const id of this.removed) program.zRem(indexKey, id);
    for (const session of fresh) {
      if (closed.has(session.id)) continue;
      program.hSet(openKey, session.id, '1');
      session.indexed = true;
    }
    for (const id of this.removed) program.hDel(openKey, id);
    for (const id of closed) program.hDel(openKey, id);
    if (Number.isFinite(partitionWatermarkMs)) {
      program.expireSessionsBefore(indexKey, hashKey, partitionWatermarkMs - view.retentionMs);
    }
    program.set(keys.viewGroup(view.name), group);
    program.touchedViews.add(view.name);
    this.dirty = [];
    this.removed = new Set();
    this.closed = new Set();
  }

  /**
   * Writes every changed session whole; returns those not yet in the session index. The long loop of a
   * checkpoint, in a function of its own: compiled by the JIT while in it, the checkpoint's other loops,
   * which had not run yet, would each throw that code away.
   */
  private writeDirty(program: FlushProgram, hashKey: string): Session[] {
    const fresh: Session[] = [];
    const measures = this.context.view.measures;
    const states: string[] = new Array<string>(measures.length);
    for (const session of this.dirty) {
      if (session.replaced) continue;
      session.dirty = false;
      for (let index = 0; index < measures.length; index++) states[index] = measures[index]!.measure.serialize(session.states[index]);
      program.hSet(hashKey, session.id, encodeStoredSession(session.end, session.rows, states));
      if (!session.indexed) fresh.push(session);
    }
    return fresh;
  }

  onClose(): void {
    this.earliestEndMs = Infinity;
    this.byKey = new Map();
    this.dirty = [];
    this.removed = new Set();
    this.closed = new Set();
  }
}
