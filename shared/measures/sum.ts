import type { Measure } from './measure.ts';
import { nullableNumber } from './nullable-number.ts';

/** Sum of a numeric field; null when the window has no non-null value (as SQL SUM). Merged in Redis by HINCRBYFLOAT. */
export function sum(field: string): Measure<number | null, number | null> {
  return nullableNumber('sum', field, (a, b) => a + b, (program, key, cell, value) => program.incrByFloat(key, cell, value), 'numeric');
}
