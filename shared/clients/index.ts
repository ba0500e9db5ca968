export { createKafkaClient, createProducer, StablePartitioner } from './kafka.ts';
export { HARMLESS_KAFKA_LOGS, isTransientKafkaError, kafkaLogLevel, TRANSIENT_KAFKA_ERRORS, type KafkaLogLine } from './kafka-log.ts';
export { ensureTopics } from './kafka-topics.ts';
export { createRedisClient, quietOnReconnect } from './redis.ts';
