import { Kafka, logLevel, Partitioners, type ICustomPartitioner, type Producer, type SASLOptions } from 'kafkajs';
import type { SaslSettings, TlsSettings } from '../config/index.ts';
import { assertNever } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';
import { kafkaLogCreator } from './kafka-log.ts';

/** Where Kafka is and how to connect to it: `config.kafka` is one. */
export interface KafkaConnection {
  readonly brokers: string[];
  /** TLS settings; plaintext when absent. */
  readonly ssl?: TlsSettings | undefined;
  /** SASL mechanism and credentials; no authentication when absent. */
  readonly sasl?: SaslSettings | undefined;
}

/**
 * A kafkajs client for the configured brokers, with their TLS and SASL settings.
 *
 * @example
 * const kafka = createKafkaClient({ ...config.kafka, clientId: `${config.kafka.clientId}-speed`, logger });
 */
export function createKafkaClient(
  options: KafkaConnection & {
    clientId: string;
    logger: Logger;
    /** Retries of the initial connection, default 5 (kafkajs backs off exponentially). */
    connectionRetries?: number;
  },
): Kafka {
  const { ssl, sasl } = options;
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(ssl === undefined ? {} : { ssl: { ...ssl } }),
    ...(sasl === undefined ? {} : { sasl: saslOptions(sasl) }),
    logLevel: logLevel.INFO,
    logCreator: kafkaLogCreator(options.logger),
    connectionTimeout: 3_000,
    retry: { retries: options.connectionRetries ?? 5, initialRetryTime: 200, maxRetryTime: 5_000 },
  });
}

function saslOptions(sasl: SaslSettings): SASLOptions {
  const { mechanism, username, password } = sasl;
  switch (mechanism) {
    case 'plain':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'scram-sha-512':
      return { mechanism, username, password };
    default:
      return assertNever(mechanism);
  }
}

/**
 * kafkajs's default (Java-compatible, murmur2) partitioner, made deterministic
 * for keyless messages: they are placed by a hash of their value instead of
 * round-robin. kafkajs retries a failed multi-partition request by placing its
 * messages again; round-robin would then give a partition a different batch
 * than the one the broker already accepted, and the idempotent producer's
 * sequence numbers would no longer match (OUT_OF_ORDER_SEQUENCE_NUMBER, fatal
 * for that producer). A keyed message's partition depends on its key only.
 * Like a keyed one, a keyless message then waits for its partition's leader
 * rather than going to another partition that has one. This covers retries on
 * a fixed set of leaders (Braid's single-broker stack); kafkajs can still skip
 * a partition whose leader moved to a broker that already answered the send.
 */
export const StablePartitioner: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message } = args;
    const keyless = (message.key === null || message.key === undefined) && (message.partition === null || message.partition === undefined);
    if (!keyless) return partitioner(args);
    // A message with neither key nor value (a keyless tombstone in a dead-letter topic) hashes as ''.
    return partitioner({ ...args, message: { ...message, key: message.value ?? '' } });
  };
};

/**
 * Braid's Kafka producer: idempotent, so a retried send (e.g. after "not the
 * leader" while a new topic settles) never writes a message twice — without it
 * kafkajs resends a whole multi-partition request, duplicating what the broker
 * had already accepted. One request in flight keeps each partition in order.
 */
export function createProducer(kafka: Kafka, options: { allowAutoTopicCreation?: boolean } = {}): Producer {
  return kafka.producer({
    createPartitioner: StablePartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: options.allowAutoTopicCreation ?? false,
  });
}
