import { logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from '../logging/index.ts';

type LevelName = 'error' | 'warn' | 'info' | 'debug';

const LEVEL_NAMES: Record<number, LevelName> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Kafka protocol errors that kafkajs retries by itself and that a broker answers while it starts or while a
 * group or topic is new (on every first start of the local stack). kafkajs logs each failed response at error
 * before its retry; a retry that runs out surfaces as a thrown error that Braid logs or exits on, so these
 * lines alone carry nothing to act on. The texts are kafkajs's (src/protocol/error.js), matched exactly.
 */
export const TRANSIENT_KAFKA_ERRORS = {
  /** GROUP_LOAD_IN_PROGRESS (14): the broker is still loading the group or transaction coordinator's log. */
  GROUP_LOAD_IN_PROGRESS: "The coordinator is loading and hence can't process requests for this group",
  /** GROUP_COORDINATOR_NOT_AVAILABLE (15): the coordinator's internal topic has no leader yet. */
  GROUP_COORDINATOR_NOT_AVAILABLE: 'The group coordinator is not available',
  /** LEADER_NOT_AVAILABLE (5): a partition (often of a topic just created) has no leader elected yet. */
  LEADER_NOT_AVAILABLE: 'There is no leader for this topic-partition as we are in the middle of a leadership election',
} as const;

const TRANSIENT_ERROR_TEXTS: ReadonlySet<string> = new Set(Object.values(TRANSIENT_KAFKA_ERRORS));

/** Whether an error's message (or kafkajs's `Crash: <name>: <message>` line) is one of {@link TRANSIENT_KAFKA_ERRORS}. */
export function isTransientKafkaError(message: string): boolean {
  return TRANSIENT_ERROR_TEXTS.has(message);
}

function isTransientCrash(message: string): boolean {
  // A protocol error itself, not KafkaJSNumberOfRetriesExceeded (retries that ran out are an error).
  const crash = /^Crash: KafkaJSProtocolError: (.*)$/.exec(message);
  return crash !== null && TRANSIENT_ERROR_TEXTS.has(crash[1]!);
}

/** The fields of a kafkajs log line that its classification reads. */
export interface KafkaLogLine {
  /** kafkajs's logger namespace: `Connection`, `Producer`, `Consumer`… */
  namespace: string;
  message: string;
  /** The `error` field kafkajs adds to a failed response's line. */
  error?: unknown;
}

/**
 * Lines kafkajs logs at warn or error that Braid logs at debug, each matched exactly (namespace and text).
 * Any other warning or error keeps its level.
 */
export const HARMLESS_KAFKA_LOGS: ReadonlyArray<{ readonly why: string; readonly matches: (line: KafkaLogLine) => boolean }> = [
  {
    why:
      'Braid bounds the retries of its idempotent producer on purpose, so a send that keeps failing ends with an error ' +
      'instead of blocking for ever; kafkajs warns about any bound, on every producer it creates.',
    matches: ({ namespace, message }) =>
      namespace === 'Producer' && message === 'Limiting retries for the idempotent producer may invalidate EoS guarantees',
  },
  {
    why: 'a response carrying a transient protocol error, which the request that got it retries',
    matches: ({ namespace, message, error }) =>
      namespace === 'Connection' && /^Response \w+\(key: \d+, version: \d+\)$/.test(message) && typeof error === 'string' && TRANSIENT_ERROR_TEXTS.has(error),
  },
  {
    why: 'a consumer stopped by a transient protocol error while joining its group; kafkajs restarts it (Braid logs the restart itself)',
    matches: ({ namespace, message }) => namespace === 'Consumer' && isTransientCrash(message),
  },
  {
    why: "kafkajs's own line about restarting a crashed consumer; Braid logs every crash itself, with whether it restarts",
    matches: ({ namespace, message }) => namespace === 'Consumer' && /^Restarting the consumer in \d+ms$/.test(message),
  },
  {
    why: 'a send refused for want of a partition leader; the producer refreshes its metadata and retries',
    matches: ({ namespace, message }) => namespace === 'Producer' && message === `Failed to send messages: ${TRANSIENT_KAFKA_ERRORS.LEADER_NOT_AVAILABLE}`,
  },
];

/** The level Braid logs a kafkajs line at: debug for kafkajs's chatty info and for {@link HARMLESS_KAFKA_LOGS}, else kafkajs's. */
export function kafkaLogLevel(level: logLevel, line: KafkaLogLine): LevelName {
  const name = LEVEL_NAMES[level] ?? 'debug';
  if (name === 'info') return 'debug';
  if ((name === 'warn' || name === 'error') && HARMLESS_KAFKA_LOGS.some((harmless) => harmless.matches(line))) return 'debug';
  return name;
}

/** Routes kafkajs's own logging into Braid's structured logger, at the level {@link kafkaLogLevel} gives each line. */
export function kafkaLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      child[kafkaLogLevel(level, { namespace, message, error: fields.error })](fields, message);
    };
}
