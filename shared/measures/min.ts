import type { Measure } from './measure.ts';
import { nullableNumber } from './nullable-number.ts';

/** Smallest value of a numeric or timestamp field; null when the window has none. Kept in Redis by the flush script's keep-min. */
export function min(field: string): Measure<number | null, number | null> {
  return nullableNumber('min', field, Math.min, (program, key, cell, value) => program.keepMin(key, cell, value), 'numericOrTimestamp');
}
