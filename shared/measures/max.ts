import type { Measure } from './measure.ts';
import { nullableNumber } from './nullable-number.ts';

/** Largest value of a numeric or timestamp field; null when the window has none. Kept in Redis by the flush script's keep-max. */
export function max(field: string): Measure<number | null, number | null> {
  return nullableNumber('max', field, Math.max, (program, key, cell, value) => program.keepMax(key, cell, value), 'numericOrTimestamp');
}
