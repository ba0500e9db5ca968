export {
  stackUp,
  redisUp,
  stackDown,
  stackStatus,
  type ComponentStatus,
  type Provenance,
  type Report,
  type StackDownResult,
  type StackEndpoints,
  type StackUpResult,
} from './stack.ts';
export { kafkaAnswers, probeKafka, probeRedis, redisAnswers, type ProbeResult } from './probes.ts';
export { defaultCacheDir } from './kafka-jars.ts';
