export {
  approxDistinct,
  avg,
  count,
  max,
  min,
  sum,
  topEntries,
  topK,
  type AvgState,
  type Measure,
  type MeasureKind,
  type MeasureOutput,
  type TopKEntry,
} from './measure.ts';
export { RedisHll, redisHllPosition } from './redis-hll.ts';
