import { approxDistinct } from './approx-distinct.ts';
import { avg } from './avg.ts';
import { count } from './count.ts';
import { max } from './max.ts';
import type { Measure, MeasureData } from './measure.ts';
import { min } from './min.ts';
import { quantiles } from './quantiles.ts';
import { stddev } from './stddev.ts';
import { sum } from './sum.ts';
import { topK } from './top-k.ts';

/** Every measure kind, by name: how a measure is rebuilt from its plain-data form ({@link measureFromData}). */
const MEASURES: Readonly<Record<string, (field: string | undefined, args: readonly unknown[]) => Measure>> = {
  count: () => count() as Measure,
  sum: (field) => sum(needsField('sum', field)) as Measure,
  min: (field) => min(needsField('min', field)) as Measure,
  max: (field) => max(needsField('max', field)) as Measure,
  avg: (field) => avg(needsField('avg', field)) as Measure,
  stddev: (field) => stddev(needsField('stddev', field)) as Measure,
  approxDistinct: (field) => approxDistinct(needsField('approxDistinct', field)) as Measure,
  topK: (field, [k]) => topK(needsField('topK', field), k as number) as Measure,
  quantiles: (field, [fractions]) => quantiles(needsField('quantiles', field), fractions as number[]) as Measure,
};

function needsField(kind: string, field: string | undefined): string {
  if (field === undefined) throw new RangeError(`${kind}() needs a field`);
  return field;
}

/** The measure kinds there are. */
export const MEASURE_KINDS: readonly string[] = Object.keys(MEASURES);

/** The measure a {@link MeasureData} describes (the inverse of {@link measureToData}). */
export function measureFromData(data: MeasureData): Measure {
  const make = MEASURES[data.kind];
  if (make === undefined) throw new RangeError(`unknown measure kind "${data.kind}" (known: ${MEASURE_KINDS.join(', ')})`);
  return make(data.field, data.args ?? []);
}
