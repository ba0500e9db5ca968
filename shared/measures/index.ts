export {
  approxDistinct,
  avg,
  count,
  max,
  measureFromData,
  min,
  sum,
  topEntries,
  topK,
  type AvgState,
  type Measure,
  type MeasureData,
  type MeasureKind,
  type MeasureOutput,
  type TopKEntry,
} from './measure.ts';
export { RedisHll, redisHllPosition, REDIS_HLL_REGISTER_COUNT } from './redis-hll.ts';
