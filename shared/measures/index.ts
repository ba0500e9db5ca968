export {
  isAbsent,
  measureToData,
  type EntryShape,
  type Measure,
  type MeasureData,
  type MeasureOutput,
  type OutputScalar,
} from './measure.ts';
export { measureFromData, MEASURE_KINDS } from './measure-list.ts';
export type { BatchFace, SqlAggregate } from './batch-face.ts';
export {
  cellField,
  FIELD_SEPARATOR,
  ROW_COUNT,
  writeHeldState,
  type CellStorage,
  type CellWrites,
  type CountsStorage,
  type DeltaOps,
  type DeltaTarget,
  type HeldState,
  type PartitionStorage,
  type PendingCells,
  type SpeedFace,
  type SpeedStorage,
  type TumblingDeltas,
} from './speed-face.ts';
export { count } from './count.ts';
export { sum } from './sum.ts';
export { min } from './min.ts';
export { max } from './max.ts';
export { avg, type AvgState } from './avg.ts';
export { stddev, type StddevState } from './stddev.ts';
export { approxDistinct } from './approx-distinct.ts';
export { topK, topEntries, type TopKEntry } from './top-k.ts';
export { quantiles, QUANTILE_RELATIVE_ERROR, type QuantileEntry, type QuantilesState } from './quantiles.ts';
export { RedisHll, redisHllPosition, REDIS_HLL_REGISTER_COUNT } from './redis-hll.ts';
export { PartitionSketch } from './partition-sketch.ts';
export { SketchLog } from './sketch-log.ts';
