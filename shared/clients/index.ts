export { createKafkaClient, createProducer, StablePartitioner, type KafkaConnection } from './kafka.ts';
export { HARMLESS_KAFKA_LOGS, isTransientKafkaError, kafkaLogLevel, TRANSIENT_KAFKA_ERRORS, type KafkaLogLine } from './kafka-log.ts';
export { ensureTopics } from './kafka-topics.ts';
export { connectRedis, createRedisClient, quietOnReconnect, type RedisClientOptions, type RedisConnection } from './redis.ts';
