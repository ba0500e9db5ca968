import { isAbsent, type Measure } from './measure.ts';
import { cellField, type CellWrites, type DeltaOps } from './speed-face.ts';

/** How a pending number is written into a cell's field (the merge carried out by the flush script). */
type WriteNumber = (program: CellWrites, hashKey: string, field: string, value: number) => void;

/**
 * A measure whose state is one number, null until a value comes (sum, min and max): kept in the cell's own
 * field of the window hash (speed) and as a DOUBLE (batch), combined by `combine` in every layer. `sql` is the
 * DuckDB aggregate that is `combine` over rows.
 */
export function nullableNumber(
  kind: 'sum' | 'min' | 'max',
  field: string,
  combine: (a: number, b: number) => number,
  write: WriteNumber,
  fieldTypes: Measure['fieldTypes'],
): Measure<number | null, number | null> {
  const deltas: DeltaOps = {
    zero: () => null,
    add: (delta, value) => (isAbsent(value) ? delta : delta === null ? Number(value) : combine(delta as number, Number(value))),
    merge: (into, from) => (from === null ? into : into === null ? from : combine(into as number, from as number)),
    emitCells: (program, target, cells, measureIndex) => {
      for (const [groupKey, { deltas }] of cells) {
        const delta = deltas[measureIndex] as number | null;
        if (delta !== null) write(program, target.hashKey, cellField(groupKey, target.measureName), delta);
      }
    },
  };
  return {
    kind,
    field,
    args: [],
    fieldTypes,
    output: { type: 'float' },
    zero: () => null,
    add: (state, value) => (isAbsent(value) ? state : state === null ? Number(value) : combine(state, Number(value))),
    merge: (a, b) => (a === null ? b : b === null ? a : combine(a, b)),
    finish: (state) => state,
    serialize: (state) => (state === null ? '' : String(state)),
    deserialize: (text) => (text === '' ? null : Number(text)),
    describe: () => `${kind}(${field})`,
    speed: {
      deltas,
      storage: {
        type: 'cell',
        fields: (name) => [name],
        fromCell: (cell, name) => (cell[name] === undefined ? null : Number(cell[name])),
      },
    },
    batch: {
      input: 'value',
      aggregates: (input) => [['', `${kind}(${input})::DOUBLE`]],
      state: (raw) => raw(''),
      combinePanes: (pane) => [['', `${kind}(${pane('')})::DOUBLE`]],
      fromStored: (value) => (isAbsent(value) ? null : Number(value)),
    },
  };
}
