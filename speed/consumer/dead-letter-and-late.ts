import type { Message, Producer } from 'kafkajs';
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
