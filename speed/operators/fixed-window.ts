import type { Redis } from 'ioredis';
import { calendarGranularity, timeGrid, type TimeGrid } from '../../shared/time/index.ts';
import { alignDown, isCalendarWindow, windowSpanMs, type WindowSpec } from '../../shared/views/index.ts';
import type { FlushProgram } from '../flush-program.ts';
import { cellField, ROW_COUNT, type DeltaOps, type HeldState, type TumblingDeltas } from '../../shared/measures/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { arrayOf, SketchTtls, windowAcceptsAt, type Operator, type OperatorContext } from './operator.ts';

interface Cell {
  rows: number;
  deltas: unknown[];
}

/**
 * The pending cells of one pane (`[start, start+slide)`): by the index of the
 * first of the pane's windows that still accepted the events (0 for all of them,
 * the common case), then by group key.
 */
type Pane = Array<Map<string, Cell> | undefined>;

/**
 * Tumbling and sliding windows are the same shape: fixed `[start, start+size)`
 * windows starting every `slide` (slide = size for tumbling). Events are kept
 * per pane, the slide-long slice of time that all size/slide windows containing
 * an event share, so an event updates one cell however many windows it is in;
 * a checkpoint merges each pane into its windows and writes the windows' deltas.
 * Each window is judged for lateness on its own (as Flink does): an event late
 * for a pane's earlier windows is kept apart and goes only to the later ones.
 * Calendar windows (tumbling in a time zone) are their own panes, of varying length.
 */
export class FixedWindowOperator implements Operator {
  /** Size and slide of fixed windows (unused for calendar windows). */
  private readonly sizeMs: number;
  private readonly slideMs: number;
  /** The longest window lasts this long. */
  private readonly spanMs: number;
  /** Calendar windows: their grid, and the window the last event fell in (NaN bounds when none). */
  private readonly calendar: TimeGrid | undefined;
  private calendarStart = Number.NaN;
  private calendarEnd = Number.NaN;
  /** Windows per pane: size / slide. */
  private readonly windowsPerPane: number;
  private readonly ops: DeltaOps[];
  private readonly fields: Array<string | undefined>;
  private pending = new Map<number, Pane>();
  /** The pane the last event went to (a value of `pending`), NaN when none. */
  private lastPaneStart = Number.NaN;
  private lastPane: Pane | undefined;
  private cells = 0;
  /** Counts keys already given their TTL (shared with this view's operators on other partitions when the context says so). */
  private readonly sketchTtls: SketchTtls;
  /** Positions of the view's measures stored whole per partition (their storage is `partitions`). */
  private readonly partitionMeasures: number[];
  /** Tumbling deltas of those whose face has them, by measure position: a new cell's delta comes from its held state. */
  private readonly tumbling: Array<TumblingDeltas | undefined>;
  /** Positions of the measures in {@link tumbling}. */
  private readonly tumblingMeasures: number[];
  /**
   * This partition's whole states of the partition-stored measures' cells in the windows that still take
   * events, as stored: by window start, measure position and group key. Restored at start, dropped once the
   * watermark closes the window.
   */
  private held = new Map<number, Array<Map<string, HeldState> | undefined>>();
  /**
   * The partition watermark at the previous checkpoint: windows closed by then are forgotten by the
   * registry. Not the current one: the registry may be shared, and the partitions checkpointed after
   * this one in the same round may still hold cells of a window this one has just closed (which would
   * then claim, and PEXPIRE, all its keys again).
   */
  private previousCheckpointWatermarkMs = -Infinity;

  constructor(
    private readonly context: OperatorContext,
    window: WindowSpec,
  ) {
    if (window.type === 'session') throw new Error('FixedWindowOperator takes tumbling or sliding windows');
    this.spanMs = windowSpanMs(window);
    if (isCalendarWindow(window)) {
      this.calendar = timeGrid(calendarGranularity(window.unit, window.timeZone));
      this.sizeMs = this.spanMs;
      this.slideMs = this.spanMs;
    } else {
      this.calendar = undefined;
      this.sizeMs = window.sizeMs;
      this.slideMs = window.type === 'sliding' ? window.slideMs : window.sizeMs;
    }
    this.windowsPerPane = this.calendar === undefined ? this.sizeMs / this.slideMs : 1;
    if (!Number.isInteger(this.windowsPerPane)) throw new Error(`view ${context.view.name}: window size is not a whole multiple of its slide`);
    const measures = context.view.measures;
    // A tumbling pane is its window: a measure whose face has tumbling deltas feeds its held states directly.
    this.tumbling = measures.map(({ measure }) => (this.windowsPerPane === 1 ? measure.speed.tumbling?.() : undefined));
    this.tumblingMeasures = this.tumbling.flatMap((tumbling, index) => (tumbling === undefined ? [] : [index]));
    this.ops = measures.map(({ measure }, index) => this.tumbling[index]?.ops ?? measure.speed.deltas);
    this.fields = measures.map(({ measure }) => measure.field);
    this.sketchTtls = context.sketchTtls ?? new SketchTtls();
    this.partitionMeasures = measures.flatMap(({ measure }, index) => (measure.speed.storage.type === 'partitions' ? [index] : []));
  }

  /**
   * Window × key cells the next flush writes, at most: each pane cell goes to
   * size/slide windows (so the memory bound also bounds a flush's size).
   */
  get pendingCells(): number {
    return this.cells * this.windowsPerPane;
  }

  get heldSketches(): number {
    let held = 0;
    for (const byMeasure of this.held.values()) for (const byKey of byMeasure) held += byKey?.size ?? 0;
    return held;
  }

  /**
   * Fixed windows keep only their partition's whole states (of partition-stored measures) between flushes:
   * those of the windows the watermark has not closed are read back from Redis (the partition's own fields).
   */
  async onStart(redis: Redis, partitionWatermarkMs: number): Promise<void> {
    // No watermark: the partition has stored no event, so no state either.
    if (this.partitionMeasures.length === 0 || !Number.isFinite(partitionWatermarkMs)) return;
    const { view, keys, topic, partition } = this.context;
    // Still open: start + size + lateness > watermark (the longest size, for calendar windows).
    const after = partitionWatermarkMs - this.spanMs - view.allowedLatenessMs;
    const starts = (await redis.zrangebyscore(keys.windows(view.name), `(${after}`, '+inf')).map(Number);
    // Kafka topic names have no glob characters; the separator is a control character.
    const prefix = SpeedKeys.sketchField(topic, partition, '');
    for (const start of starts) {
      for (const index of this.partitionMeasures) {
        const { name, measure } = view.measures[index]!;
        if (measure.speed.storage.type !== 'partitions') continue;
        const storage = measure.speed.storage;
        const key = keys.sketches(view.name, start, name);
        let cursor = '0';
        do {
          const [next, flat] = await redis.hscanBuffer(key, cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
          cursor = next.toString();
          for (let at = 0; at < flat.length; at += 2) {
            const groupKey = flat[at]!.toString().slice(prefix.length);
            this.heldOf(start, index).set(groupKey, storage.restore(flat[at + 1]!));
          }
        } while (cursor !== '0');
      }
    }
  }

  /** The partition's whole state of one cell (created empty). */
  private heldStateOf(start: number, measureIndex: number, groupKey: string): HeldState {
    const byKey = this.heldOf(start, measureIndex);
    let held = byKey.get(groupKey);
    if (held === undefined) {
      const storage = this.context.view.measures[measureIndex]!.measure.speed.storage;
      if (storage.type !== 'partitions') throw new Error(`measure ${measureIndex} of view ${this.context.view.name} is not stored by partition`);
      byKey.set(groupKey, (held = storage.empty()));
    }
    return held;
  }

  /** The partition's whole states of one window and measure (created empty). */
  private heldOf(start: number, measureIndex: number): Map<string, HeldState> {
    let byMeasure = this.held.get(start);
    if (byMeasure === undefined) this.held.set(start, (byMeasure = []));
    let byKey = byMeasure[measureIndex];
    if (byKey === undefined) byMeasure[measureIndex] = byKey = new Map();
    return byKey;
  }

  process(event: Record<string, unknown>, groupKey: string, eventTimeMs: number, partitionWatermarkMs: number): boolean {
    const lateness = this.context.view.allowedLatenessMs;
    let paneStart: number;
    let first = 0;
    if (this.calendar === undefined) {
      paneStart = alignDown(eventTimeMs, this.slideMs);
      // The pane's windows start at paneStart − size + slide, … paneStart; a later one accepts for longer.
      let end = paneStart + this.slideMs;
      while (first < this.windowsPerPane && !windowAcceptsAt(end, lateness, partitionWatermarkMs)) {
        first++;
        end += this.slideMs;
      }
      if (first === this.windowsPerPane) return false;
    } else {
      // Events mostly arrive in order: the window of the event before holds most of them, with no date arithmetic.
      if (!(eventTimeMs >= this.calendarStart && eventTimeMs < this.calendarEnd)) {
        this.calendarStart = this.calendar.startOf(eventTimeMs);
        this.calendarEnd = this.calendar.endOf(this.calendarStart);
      }
      if (!windowAcceptsAt(this.calendarEnd, lateness, partitionWatermarkMs)) return false;
      paneStart = this.calendarStart;
    }
    // Most events fall in the pane of the event before: no map lookup for them.
    let pane = paneStart === this.lastPaneStart ? this.lastPane! : this.pending.get(paneStart);
    if (pane === undefined) {
      pane = [];
      this.pending.set(paneStart, pane);
    }
    this.lastPaneStart = paneStart;
    this.lastPane = pane;
    let byKey = pane[first];
    if (byKey === undefined) pane[first] = byKey = new Map();
    let cell = byKey.get(groupKey);
    if (cell === undefined) {
      cell = this.emptyCell();
      for (const index of this.tumblingMeasures) cell.deltas[index] = this.tumbling[index]!.cellDelta(this.heldStateOf(paneStart, index, groupKey));
      byKey.set(groupKey, cell);
      this.cells++;
    }
    cell.rows++;
    const deltas = cell.deltas;
    for (let index = 0; index < deltas.length; index++) {
      const field = this.fields[index];
      deltas[index] = this.ops[index]!.add(deltas[index], field === undefined ? undefined : event[field]);
    }
    return true;
  }

  /** End of the window starting at `start`. */
  private windowEnd(start: number): number {
    if (this.calendar === undefined) return start + this.sizeMs;
    return start === this.calendarStart ? this.calendarEnd : this.calendar.endOf(start);
  }

  private forgetLastPane(): void {
    this.lastPaneStart = Number.NaN;
    this.lastPane = undefined;
  }

  private emptyCell(): Cell {
    const ops = this.ops;
    return { rows: 0, deltas: arrayOf(ops.length, (index) => ops[index]!.zero()) };
  }

  /** The pending cells by window start: panes as they are when tumbling, else each pane merged into its windows. */
  private windows(): Map<number, Map<string, Cell>> {
    const windows = new Map<number, Map<string, Cell>>();
    if (this.windowsPerPane === 1) {
      for (const [start, pane] of this.pending) windows.set(start, pane[0]!);
      return windows;
    }
    const ops = this.ops;
    for (const [paneStart, pane] of this.pending) {
      const firstStart = paneStart - this.sizeMs + this.slideMs;
      for (let first = 0; first < pane.length; first++) {
        const byKey = pane[first];
        if (byKey === undefined) continue;
        for (let index = first; index < this.windowsPerPane; index++) {
          const start = firstStart + index * this.slideMs;
          let window = windows.get(start);
          if (window === undefined) windows.set(start, (window = new Map()));
          for (const [groupKey, cell] of byKey) {
            let merged = window.get(groupKey);
            if (merged === undefined) window.set(groupKey, (merged = this.emptyCell()));
            merged.rows += cell.rows;
            for (let measure = 0; measure < ops.length; measure++) merged.deltas[measure] = ops[measure]!.merge(merged.deltas[measure], cell.deltas[measure]);
          }
        }
      }
    }
    return windows;
  }

  onWatermark(_partitionWatermarkMs: number): void {
    // Finality is read from the watermark; nothing to fire.
  }

  onCheckpoint(program: FlushProgram, partitionWatermarkMs: number): void {
    const forgetAtMs = this.previousCheckpointWatermarkMs;
    this.previousCheckpointWatermarkMs = partitionWatermarkMs;
    this.sketchTtls.forget((start) => !windowAcceptsAt(this.windowEnd(start), this.context.view.allowedLatenessMs, forgetAtMs));
    if (this.cells > 0) this.writeCells(program);
    // After writing: the cells just written may belong to windows this watermark closes.
    for (const start of this.held.keys()) {
      if (!windowAcceptsAt(this.windowEnd(start), this.context.view.allowedLatenessMs, partitionWatermarkMs)) this.held.delete(start);
    }
  }

  private writeCells(program: FlushProgram): void {
    const { view, keys, group, topic, partition } = this.context;
    const windowsKey = keys.windows(view.name);
    const measures = view.measures;
    for (const index of this.tumblingMeasures) this.tumbling[index]!.fold();
    for (const [start, byKey] of this.windows()) {
      const hashKey = keys.window(view.name, start);
      program.zAdd(windowsKey, start, String(start));
      // One target per window, pointed at each cell and measure in turn: no closures per cell.
      let measureIndex = 0;
      const target = {
        hashKey,
        groupKey: '',
        measureName: '',
        retentionMs: view.retentionMs,
        countsKey: () => keys.topK(view.name, start, target.measureName, target.groupKey),
        needsTtl: (countsKey: string) => this.sketchTtls.claim(start, countsKey),
        partitionsKey: '',
        partitionField: () => SpeedKeys.sketchField(topic, partition, target.groupKey),
        heldState: () => this.heldStateOf(start, measureIndex, target.groupKey),
      };
      // Field by field over the cells, so the flush script sees long runs of one kind of op on one key.
      emitRowCounts(program, hashKey, byKey);
      for (measureIndex = 0; measureIndex < measures.length; measureIndex++) {
        target.measureName = measures[measureIndex]!.name;
        if (measures[measureIndex]!.measure.speed.storage.type === 'partitions') target.partitionsKey = keys.sketches(view.name, start, target.measureName);
        this.ops[measureIndex]!.emitCells(program, target, byKey, measureIndex);
      }
      program.pExpire(hashKey, view.retentionMs);
    }
    program.pExpire(windowsKey, view.retentionMs);
    program.set(keys.viewGroup(view.name), group);
    program.touchedViews.add(view.name);
    this.pending = new Map();
    for (const index of this.tumblingMeasures) this.tumbling[index]!.clear();
    this.forgetLastPane();
    this.cells = 0;
  }

  onClose(): void {
    this.pending.clear();
    for (const index of this.tumblingMeasures) this.tumbling[index]!.clear();
    this.held = new Map();
    this.forgetLastPane();
    if (this.context.sketchTtls === undefined) this.sketchTtls.clear();
    this.cells = 0;
  }
}

/** Emits the row count (the `#` field every cell has) of each of a window's cells: a loop of its own, as each measure's. */
function emitRowCounts(program: FlushProgram, hashKey: string, cells: ReadonlyMap<string, { readonly rows: number }>): void {
  for (const [groupKey, { rows }] of cells) program.incrBy(hashKey, cellField(groupKey, ROW_COUNT), rows);
}
