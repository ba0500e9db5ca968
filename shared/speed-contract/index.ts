// The contract between the speed layer and the batch layer: the Redis keys the speed layer owns, and the hand-over
// the batch layer runs after a publish (windows at or before the cutoff expire from Redis).
export { cellField, FIELD_SEPARATOR, RECENT_DEAD_LETTERS, ROW_COUNT, SpeedKeys, type RecentDeadLetter } from './speed-keys.ts';
export { EXPIRY_GRACE_MS, handOverToBatch, readBatchPublished, type BatchPublished } from './batch-handshake.ts';
