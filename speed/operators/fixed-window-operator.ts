import type { Redis } from 'ioredis';
import type { WindowSpec } from '../../shared/views/index.ts';
import { alignDown } from '../../shared/views/index.ts';
import type { FlushProgram } from '../flush-program.ts';
import { deltaOpsFor, emitRowCount, type DeltaOps } from '../measure-deltas.ts';
import { SketchTtls, windowAcceptsAt, type Operator, type OperatorContext } from './operator.ts';

interface Cell {
  rows: number;
  deltas: unknown[];
}

/**
 * Tumbling and sliding windows are the same shape: fixed `[start, start+size)`
 * windows starting every `slide` (slide = size for tumbling). Each event adds
 * to every window containing it that still accepts events; pending deltas per
 * window and group key are merged into Redis at the next flush.
 */
export class FixedWindowOperator implements Operator {
  private readonly sizeMs: number;
  private readonly slideMs: number;
  private readonly ops: DeltaOps[];
  private readonly fields: Array<string | undefined>;
  private pending = new Map<number, Map<string, Cell>>();
  private cells = 0;
  /** Sketch keys already given their TTL (shared with this view's operators on other partitions when the context says so). */
  private readonly sketchTtls: SketchTtls;

  constructor(
    private readonly context: OperatorContext,
    window: WindowSpec,
  ) {
    if (window.type === 'session') throw new Error('FixedWindowOperator takes tumbling or sliding windows');
    this.sizeMs = window.sizeMs;
    this.slideMs = window.type === 'sliding' ? window.slideMs : window.sizeMs;
    this.ops = context.view.measures.map(({ measure }) => deltaOpsFor(measure));
    this.fields = context.view.measures.map(({ measure }) => measure.field);
    this.sketchTtls = context.sketchTtls ?? new SketchTtls();
  }

  get pendingCells(): number {
    return this.cells;
  }

  async onStart(_redis: Redis): Promise<void> {
    // Fixed windows keep nothing between flushes: all state is in Redis.
  }

  process(event: Record<string, unknown>, groupKey: string, eventTimeMs: number, partitionWatermarkMs: number): boolean {
    const lateness = this.context.view.allowedLatenessMs;
    const last = alignDown(eventTimeMs, this.slideMs);
    let accepted = false;
    for (let start = last - this.sizeMs + this.slideMs; start <= last; start += this.slideMs) {
      if (!windowAcceptsAt(start + this.sizeMs, lateness, partitionWatermarkMs)) continue;
      accepted = true;
      let byKey = this.pending.get(start);
      if (byKey === undefined) {
        byKey = new Map();
        this.pending.set(start, byKey);
      }
      let cell = byKey.get(groupKey);
      if (cell === undefined) {
        cell = { rows: 0, deltas: this.ops.map((ops) => ops.zero()) };
        byKey.set(groupKey, cell);
        this.cells++;
      }
      cell.rows++;
      const deltas = cell.deltas;
      for (let index = 0; index < deltas.length; index++) {
        const field = this.fields[index];
        deltas[index] = this.ops[index]!.add(deltas[index], field === undefined ? undefined : event[field]);
      }
    }
    return accepted;
  }

  onWatermark(_partitionWatermarkMs: number): void {
    // Finality is read from the watermark; nothing to fire.
  }

  onCheckpoint(program: FlushProgram, partitionWatermarkMs: number): void {
    this.sketchTtls.forget((start) => !windowAcceptsAt(start + this.sizeMs, this.context.view.allowedLatenessMs, partitionWatermarkMs));
    if (this.cells === 0) return;
    const { view, keys, group } = this.context;
    const windowsKey = keys.windows(view.name);
    const measures = view.measures;
    for (const [start, byKey] of this.pending) {
      const hashKey = keys.window(view.name, start);
      program.zAdd(windowsKey, start, String(start));
      // One target per window, pointed at each cell and measure in turn: no closures per cell.
      let measureIndex = 0;
      const target = {
        hashKey,
        groupKey: '',
        measureName: '',
        retentionMs: view.retentionMs,
        sketchKey: () =>
          measures[measureIndex]!.measure.kind === 'topK'
            ? keys.topK(view.name, start, target.measureName, target.groupKey)
            : keys.hll(view.name, start, target.measureName, target.groupKey),
        needsTtl: (sketchKey: string) => this.sketchTtls.claim(start, sketchKey),
      };
      // Field by field over the cells, so the flush script sees long runs of one kind of op on one key.
      for (const [groupKey, cell] of byKey) emitRowCount(program, hashKey, groupKey, cell.rows);
      for (measureIndex = 0; measureIndex < measures.length; measureIndex++) {
        target.measureName = measures[measureIndex]!.name;
        const ops = this.ops[measureIndex]!;
        for (const [groupKey, cell] of byKey) {
          target.groupKey = groupKey;
          ops.emit(program, target, cell.deltas[measureIndex]);
        }
      }
      program.pExpire(hashKey, view.retentionMs);
    }
    program.pExpire(windowsKey, view.retentionMs);
    program.set(keys.viewGroup(view.name), group);
    program.touchedViews.add(view.name);
    this.pending = new Map();
    this.cells = 0;
  }

  onClose(): void {
    this.pending.clear();
    if (this.context.sketchTtls === undefined) this.sketchTtls.clear();
    this.cells = 0;
  }
}
