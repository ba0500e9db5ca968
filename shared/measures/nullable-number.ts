import { isAbsent, type Measure } from './measure.ts';
import type { DeltaOps } from './speed-face.ts';

/**
 * A measure whose state is one number, null until a value comes (sum, min and max): kept in the cell's own
 * field of the window hash (speed) and as a DOUBLE (batch), combined by `combine` in every layer; `kind` is
 * also the DuckDB aggregate that is `combine` over rows. `deltas` is the measure's own: its `add` runs for every
 * event, with the arithmetic written inline (one `add` shared by sum, min and max would call `combine` from one
 * polymorphic site).
 */
export function nullableNumber(
  kind: 'sum' | 'min' | 'max',
  field: string,
  combine: (a: number, b: number) => number,
  deltas: DeltaOps,
  fieldTypes: Measure['fieldTypes'],
): Measure<number | null, number | null> {
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
      rollUp: { aggregate: (stored) => `${kind}(${stored})::DOUBLE` },
      fromStored: (value) => (isAbsent(value) ? null : Number(value)),
    },
  };
}
