import type { Measure } from './measure.ts';
import { ROW_COUNT, type DeltaOps } from './speed-face.ts';

/** count() is the cell's row count, which every cell keeps anyway: no delta, no field. */
const deltas: DeltaOps = {
  zero: () => 0,
  add: () => 0,
  merge: () => 0,
  emitCells: () => undefined,
};

/** Number of events (rows), nulls included. Stored as the cell's row count (speed) and a BIGINT (batch). */
export function count(): Measure<number, number> {
  return {
    kind: 'count',
    field: undefined,
    args: [],
    output: { type: 'int' },
    zero: () => 0,
    add: (state) => state + 1,
    merge: (a, b) => a + b,
    finish: (state) => state,
    serialize: (state) => String(state),
    deserialize: (text) => Number(text),
    describe: () => 'count()',
    speed: {
      deltas,
      storage: { type: 'cell', fields: () => [], fromCell: (cell) => Number(cell[ROW_COUNT]) },
    },
    batch: {
      input: 'value',
      aggregates: () => [['', 'count(*)']],
      state: (raw) => `${raw('')}::BIGINT`,
      combinePanes: (pane) => [['', `sum(${pane('')})::BIGINT`]],
      rollUp: { aggregate: (stored) => `sum(${stored})::BIGINT` },
      fromStored: (value) => Number(value),
    },
  };
}
