import { isAbsent, type Measure } from './measure.ts';
import { nullableNumber } from './nullable-number.ts';
import { cellField, type DeltaOps } from './speed-face.ts';

/** A pending minimum, kept in the cell's field by the flush script's keep-min. */
const deltas: DeltaOps = {
  zero: () => null,
  add: (delta, value) => (isAbsent(value) ? delta : delta === null ? Number(value) : Math.min(delta as number, Number(value))),
  merge: (into, from) => (from === null ? into : into === null ? from : Math.min(into as number, from as number)),
  emitCells: (program, target, cells, measureIndex) => {
    for (const [groupKey, { deltas }] of cells) {
      const delta = deltas[measureIndex] as number | null;
      if (delta !== null) program.keepMin(target.hashKey, cellField(groupKey, target.measureName), delta);
    }
  },
};

/** Smallest value of a numeric or timestamp field; null when the window has none. */
export function min(field: string): Measure<number | null, number | null> {
  return nullableNumber('min', field, Math.min, deltas, 'numericOrTimestamp');
}
