import { createRequire } from 'node:module';
import { logLevel, type LogEntry } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isTransientKafkaError, kafkaLogCreator, kafkaLogLevel, TRANSIENT_KAFKA_ERRORS } from '../../shared/clients/kafka-log.ts';
import { createLogger } from '../../shared/logging/index.ts';

const LIMITING_RETRIES = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';
const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error') as { errorCodes: Array<{ type: string; message: string }> };

describe('kafkajs log levels', () => {
  it('the transient error texts are kafkajs\'s own, word for word', () => {
    for (const [type, text] of Object.entries(TRANSIENT_KAFKA_ERRORS)) {
      expect(errorCodes.find((code) => code.type === type)?.message, type).toBe(text);
    }
  });

  it('the idempotent producer\'s warning about bounded retries goes to debug', () => {
    expect(kafkaLogLevel(logLevel.WARN, { namespace: 'Producer', message: LIMITING_RETRIES })).toBe('debug');
  });

  it('a response with a coordinator-loading, coordinator-unavailable or leader-unavailable error goes to debug', () => {
    const responses = [
      ['InitProducerId(key: 22, version: 1)', TRANSIENT_KAFKA_ERRORS.GROUP_LOAD_IN_PROGRESS],
      ['GroupCoordinator(key: 10, version: 2)', TRANSIENT_KAFKA_ERRORS.GROUP_COORDINATOR_NOT_AVAILABLE],
      ['Metadata(key: 3, version: 6)', TRANSIENT_KAFKA_ERRORS.LEADER_NOT_AVAILABLE],
    ] as const;
    for (const [request, error] of responses) {
      expect(kafkaLogLevel(logLevel.ERROR, { namespace: 'Connection', message: `Response ${request}`, error }), request).toBe('debug');
    }
    expect(kafkaLogLevel(logLevel.ERROR, { namespace: 'Producer', message: `Failed to send messages: ${TRANSIENT_KAFKA_ERRORS.LEADER_NOT_AVAILABLE}` })).toBe('debug');
  });

  it('a consumer stopped by a coordinator still loading, and kafkajs restarting it, go to debug', () => {
    expect(kafkaLogLevel(logLevel.ERROR, { namespace: 'Consumer', message: `Crash: KafkaJSProtocolError: ${TRANSIENT_KAFKA_ERRORS.GROUP_LOAD_IN_PROGRESS}` })).toBe('debug');
    expect(kafkaLogLevel(logLevel.ERROR, { namespace: 'Consumer', message: 'Restarting the consumer in 200ms' })).toBe('debug');
    expect(isTransientKafkaError(TRANSIENT_KAFKA_ERRORS.GROUP_LOAD_IN_PROGRESS)).toBe(true);
    expect(isTransientKafkaError('The group member needs to have a valid member id before actually entering a consumer group')).toBe(false);
  });

  it('kafkajs info is chatty and goes to debug; debug stays debug', () => {
    expect(kafkaLogLevel(logLevel.INFO, { namespace: 'Consumer', message: 'Starting' })).toBe('debug');
    expect(kafkaLogLevel(logLevel.DEBUG, { namespace: 'Connection', message: 'Request Metadata(key: 3, version: 6)' })).toBe('debug');
  });

  it('any other warning or error keeps its level, including near misses of the harmless ones', () => {
    const kept: Array<[logLevel, Parameters<typeof kafkaLogLevel>[1], string]> = [
      [logLevel.ERROR, { namespace: 'Connection', message: 'Response Produce(key: 0, version: 7)', error: 'The server experienced an unexpected error when processing the request' }, 'error'],
      [logLevel.ERROR, { namespace: 'Connection', message: 'Response Metadata(key: 3, version: 6)', error: 'This server does not host this topic-partition' }, 'error'],
      [logLevel.ERROR, { namespace: 'Connection', message: 'Response Metadata(key: 3, version: 6)' }, 'error'],
      [logLevel.ERROR, { namespace: 'Connection', message: 'Response Metadata(key: 3, version: 6)', error: `${TRANSIENT_KAFKA_ERRORS.LEADER_NOT_AVAILABLE}!` }, 'error'],
      [logLevel.ERROR, { namespace: 'Connection', message: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' }, 'error'],
      [logLevel.ERROR, { namespace: 'Consumer', message: `Crash: KafkaJSNumberOfRetriesExceeded: ${TRANSIENT_KAFKA_ERRORS.GROUP_COORDINATOR_NOT_AVAILABLE}` }, 'error'],
      [logLevel.ERROR, { namespace: 'Producer', message: 'Failed to send messages: This server does not host this topic-partition' }, 'error'],
      [logLevel.ERROR, { namespace: 'Consumer', message: 'Crash: KafkaJSProtocolError: The group member needs to have a valid member id before actually entering a consumer group' }, 'error'],
      [logLevel.ERROR, { namespace: 'Consumer', message: 'Restarting the consumer in 200ms!' }, 'error'],
      [logLevel.ERROR, { namespace: 'Connection', message: `Failed to send messages: ${TRANSIENT_KAFKA_ERRORS.LEADER_NOT_AVAILABLE}` }, 'error'],
      [logLevel.WARN, { namespace: 'Consumer', message: LIMITING_RETRIES }, 'warn'],
      [logLevel.WARN, { namespace: 'Producer', message: `${LIMITING_RETRIES}.` }, 'warn'],
      [logLevel.WARN, { namespace: 'Runner', message: 'The group is rebalancing, re-joining' }, 'warn'],
    ];
    for (const [level, line, expected] of kept) expect(kafkaLogLevel(level, line), line.message).toBe(expected);
  });

  it('the log creator writes a harmless line at debug and a real error at error, with kafkajs\'s fields', () => {
    const written: string[] = [];
    const logger = createLogger({ level: 'debug', name: 'test', format: 'json', destination: { write: (line: string) => void written.push(line) } });
    const log = kafkaLogCreator(logger)(logLevel.DEBUG);
    const entry = (level: logLevel, namespace: string, message: string, extra: Record<string, unknown> = {}): LogEntry => ({
      namespace,
      level,
      label: logLevel[level],
      log: { timestamp: new Date().toISOString(), logger: 'kafkajs', message, ...extra },
    });
    log(entry(logLevel.ERROR, 'Connection', 'Response GroupCoordinator(key: 10, version: 2)', { broker: '127.0.0.1:9092', error: TRANSIENT_KAFKA_ERRORS.GROUP_COORDINATOR_NOT_AVAILABLE }));
    log(entry(logLevel.ERROR, 'Connection', 'Response Produce(key: 0, version: 7)', { broker: '127.0.0.1:9092', error: 'The server experienced an unexpected error when processing the request' }));
    const lines = written.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { level: 'debug', component: 'kafkajs', msg: 'Response GroupCoordinator(key: 10, version: 2)', broker: '127.0.0.1:9092' },
      { level: 'error', component: 'kafkajs', msg: 'Response Produce(key: 0, version: 7)', error: 'The server experienced an unexpected error when processing the request' },
    ]);
    expect(lines[0]).not.toHaveProperty('timestamp');
  });
});
