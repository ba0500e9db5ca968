import { isAbsent, type Measure } from './measure.ts';
import { nullableNumber } from './nullable-number.ts';
import { cellField, type DeltaOps } from './speed-face.ts';

/** A pending sum, added into the cell's field by HINCRBYFLOAT. */
const deltas: DeltaOps = {
  zero: () => null,
  add: (delta, value) => (isAbsent(value) ? delta : ((delta as number | null) ?? 0) + Number(value)),
  merge: (into, from) => (from === null ? into : into === null ? from : (into as number) + (from as number)),
  emitCells: (program, target, cells, measureIndex) => {
    for (const [groupKey, { deltas }] of cells) {
      const delta = deltas[measureIndex] as number | null;
      if (delta !== null) program.incrByFloat(target.hashKey, cellField(groupKey, target.measureName), delta);
    }
  },
};

/** Sum of a numeric field; null when the window has no non-null value (as SQL SUM). */
export function sum(field: string): Measure<number | null, number | null> {
  return nullableNumber('sum', field, (a, b) => a + b, deltas, 'numeric');
}
