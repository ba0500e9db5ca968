import type { Redis } from 'ioredis';
import type { Message, Producer } from 'kafkajs';
import { RECENT_DEAD_LETTERS, type RecentDeadLetter } from '../../shared/speed-contract/index.ts';
import type { OutgoingMessage, PackedRound } from '../threads/pipeline-protocol.ts';

/** The topic a source topic's malformed or schema-invalid messages go to. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The topic a source topic's events too late for a view go to. */
export function lateTopic(topic: string): string {
  return `${topic}.late`;
}

/**
 * Sends a flush round's dead letters to `<topic>.dlq`, then its late events to `<topic>.late`. Done before the
 * round is written to Redis: a crash between the two sends them again on replay (at least once), but never
 * counts an event without also keeping it.
 */
export async function sendDeadLettersAndLate(producer: Producer, topic: string, round: PackedRound): Promise<void> {
  const deadLetters = round.partitions.flatMap((flush) => flush.deadLetters);
  const late = round.partitions.flatMap((flush) => flush.late);
  if (deadLetters.length > 0) await producer.send({ topic: deadLetterTopic(topic), messages: deadLetters.map(toKafkaMessage) });
  if (late.length > 0) await producer.send({ topic: lateTopic(topic), messages: late.map(toKafkaMessage) });
}

/** A dead-letter or late message as kafkajs sends it. */
function toKafkaMessage(message: OutgoingMessage): Message {
  const buffer = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return { key: buffer(message.key), value: buffer(message.value), headers: message.headers };
}

/**
 * Keeps the newest {@link RECENT_DEAD_LETTERS} dead letters of a topic in a Redis list (newest first), each with
 * its reason, place and the start of its value, so the console can show them without reading the DLQ topic.
 */
export async function rememberDeadLetters(redis: Redis, key: string, deadLetters: readonly OutgoingMessage[]): Promise<void> {
  const atMs = Date.now();
  const entries = deadLetters.slice(-RECENT_DEAD_LETTERS).map((message) => {
    const entry: RecentDeadLetter = {
      reason: message.headers['braid-error'] ?? 'unknown',
      partition: Number(message.headers['braid-source-partition']),
      offset: message.headers['braid-source-offset'] ?? '',
      atMs,
      value: message.value === null ? null : Buffer.from(message.value.buffer, message.value.byteOffset, Math.min(message.value.byteLength, 500)).toString('utf8'),
    };
    return JSON.stringify(entry);
  });
  await redis.multi().lpush(key, ...entries).ltrim(key, 0, RECENT_DEAD_LETTERS - 1).exec();
}
