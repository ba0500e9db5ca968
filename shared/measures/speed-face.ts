/**
 * The speed layer's face of a measure: how its pending delta is kept in a pipeline between flushes, written
 * into Redis by the flush script, and read back. Writing a delta into Redis is the monoid's `merge` carried out
 * in Redis: integer and double increments, keep-min/keep-max, ZINCRBY of counts; or, for a state Redis cannot
 * merge (a sketch), the partition's whole state written under a field of its own, which readers merge.
 */

/** Separates a cell's group key from its field name in a window hash's fields. */
export const FIELD_SEPARATOR = '\x1f';
/** The field of a cell's row count, which every cell keeps (count() reads it). */
export const ROW_COUNT = '#';

/** A cell's field in its window's hash: `<group-key>\x1f<name>`. */
export function cellField(groupKey: string, name: string): string {
  return `${groupKey}${FIELD_SEPARATOR}${name}`;
}

/** The flush script's operations a measure writes with (the speed layer's flush program provides them). */
export interface CellWrites {
  incrBy(key: string, field: string, by: number): void;
  incrByFloat(key: string, field: string, by: number): void;
  keepMin(key: string, field: string, value: number): void;
  keepMax(key: string, field: string, value: number): void;
  zIncrBy(key: string, member: string, by: number): void;
  /** HSET of a binary value (a partition's whole state). */
  hSetBytes(key: string, field: string, value: Uint8Array): void;
  pExpire(key: string, ms: number): void;
}

/** One window's pending cells by group key, as an operator hands them to {@link DeltaOps.emitCells}. */
export type PendingCells = ReadonlyMap<string, { readonly deltas: readonly unknown[] }>;

/** A partition's whole state of one cell, kept by the pipeline while the cell's window is open (see {@link PartitionStorage}). */
export interface HeldState {
  /** Set when the state changed since it was last written. */
  unwritten: boolean;
  toBytes(): Uint8Array;
}

export interface DeltaTarget {
  /** Hash of the window. */
  readonly hashKey: string;
  /** The cell being written: set by {@link DeltaOps.emitCells} before it asks for the cell's counts key, field or held state. */
  groupKey: string;
  readonly measureName: string;
  /** Key of this cell's zset of counts ({@link CountsStorage}). */
  readonly countsKey: () => string;
  /** Hash of the window's partition states for this measure ({@link PartitionStorage}). */
  readonly partitionsKey: string;
  /** This partition's field of the cell in {@link partitionsKey}. */
  readonly partitionField: () => string;
  /** This partition's state of the cell, as stored (created empty on first use). */
  readonly heldState: () => HeldState;
  readonly retentionMs: number;
  /** True the first time this worker writes `countsKey` (its TTL is then set once). */
  readonly needsTtl: (countsKey: string) => boolean;
}

export interface DeltaOps {
  zero(): unknown;
  add(delta: unknown, value: unknown): unknown;
  /** `into` with `from` merged in (`into` may be updated in place; `from` is left as it is). */
  merge(into: unknown, from: unknown): unknown;
  /**
   * Writes this measure (at `measureIndex` of each cell's deltas) for every cell of one window, setting
   * `target.groupKey` to each cell's key in turn. The loop over the cells is each kind's own: a loop shared
   * by all kinds, calling each kind's write per cell, is one large polymorphic function for the JIT,
   * compiled anew (50–70 ms on a helper thread each time) whenever it meets another kind or view.
   */
  emitCells(program: CellWrites, target: DeltaTarget, cells: PendingCells, measureIndex: number): void;
}

/** State kept in fields of the window's hash (`<group key>\x1f<field>`), merged by the flush script's increments. */
export interface CellStorage<State> {
  readonly type: 'cell';
  /** The hash fields the measure named `name` keeps (the row count `#` is always read as well). */
  fields(name: string): readonly string[];
  /** The state from a cell's fields (by field, the row count under `#`). */
  fromCell(cell: Readonly<Record<string, string>>, name: string): State;
}

/** State kept as a zset of counts per cell (`SpeedKeys.topK`), merged by ZINCRBY. */
export interface CountsStorage<State> {
  readonly type: 'counts';
  /** The state from ZRANGE … WITHSCORES (member, score, member, score …). */
  fromCounts(flat: readonly string[]): State;
}

/**
 * State kept whole per Kafka partition, in a hash per window and measure (`SpeedKeys.sketches`), one field per
 * partition and cell; readers merge the partitions'. Whole writes make a flush idempotent without a merge in
 * Redis: a pipeline keeps its partition's state of each open cell, restored from Redis when it starts.
 */
export interface PartitionStorage<State> {
  readonly type: 'partitions';
  empty(): HeldState;
  restore(bytes: Uint8Array): HeldState;
  /** The merged state of a cell from its partitions' stored bytes. */
  fromPartitions(parts: readonly Uint8Array[]): State;
}

export type SpeedStorage<State> = CellStorage<State> | CountsStorage<State> | PartitionStorage<State>;

/**
 * Deltas of a tumbling window's cells that go straight into the partition's held state (a tumbling cell is
 * its whole window), one instance per operator: the delta of a new cell is made from its held state, and
 * `fold` runs before the cells are written.
 */
export interface TumblingDeltas {
  readonly ops: DeltaOps;
  cellDelta(held: HeldState): unknown;
  fold(): void;
  clear(): void;
}

export interface SpeedFace<State> {
  readonly deltas: DeltaOps;
  readonly storage: SpeedStorage<State>;
  /** For a partition-stored measure in tumbling windows; absent: {@link deltas} there too. */
  tumbling?(): TumblingDeltas;
}

/** Writes a partition's held state of a cell whole, under its field of the window's partition-state hash. */
export function writeHeldState(program: CellWrites, target: DeltaTarget, held: HeldState): void {
  program.hSetBytes(target.partitionsKey, target.partitionField(), held.toBytes());
  program.pExpire(target.partitionsKey, target.retentionMs);
}
