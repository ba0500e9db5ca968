export { createKafkaClient, createProducer, StablePartitioner } from './kafka.ts';
export { ensureTopics } from './kafka-topics.ts';
export { createRedisClient, quietOnReconnect } from './redis.ts';
