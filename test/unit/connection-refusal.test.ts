import { describe, expect, it } from 'vitest';
import { connectionRefusal, ErrorCode, toBraidError } from '../../shared/errors/index.ts';

/** An error as Node's TLS socket or a client library raises it: a name, a message and maybe a code. */
function raised(name: string, message: string, fields: Record<string, unknown> = {}): Error {
  const error = new Error(message);
  Object.defineProperty(error, 'name', { value: name });
  return Object.assign(error, fields);
}

/** kafkajs's wrapping: a retry error whose `originalError` is the connection error. */
function kafkajsWrapped(original: Error): Error {
  return raised('KafkaJSNumberOfRetriesExceeded', original.message, { originalError: original });
}

describe('connectionRefusal', () => {
  it('says a server certificate is not trusted, and names the CA key of the service', () => {
    const tls = raised('Error', 'self-signed certificate in certificate chain', { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    const redis = connectionRefusal(tls, 'redis');
    expect(redis?.code).toBe(ErrorCode.REDIS_UNREACHABLE);
    expect(redis?.retriable).toBe(false);
    expect(redis?.message).toBe("Redis's TLS certificate is not trusted: self-signed certificate in certificate chain");
    expect(redis?.hint).toMatch(/^redis\.tls\.ca names the CA/);
    const kafka = connectionRefusal(kafkajsWrapped(raised('KafkaJSConnectionError', 'Connection error: Hostname/IP does not match certificate\'s altnames', { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })), 'kafka');
    expect(kafka?.code).toBe(ErrorCode.KAFKA_UNREACHABLE);
    expect(kafka?.message).toBe("Kafka's TLS certificate is not trusted: Hostname/IP does not match certificate's altnames");
    expect(kafka?.hint).toMatch(/kafka\.ssl\.servername/);
  });

  it('says a TLS handshake failed (a plaintext port, a client certificate the server wants), whatever the alert', () => {
    const wrongVersion = connectionRefusal(raised('Error', 'ssl3_get_record:wrong version number', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), 'kafka');
    expect(wrongVersion?.message).toBe('the TLS handshake with Kafka failed: ssl3_get_record:wrong version number');
    expect(wrongVersion?.hint).toMatch(/is that port TLS\? Braid speaks TLS to Kafka when kafka\.ssl is set/);
    const certificateRequired = connectionRefusal(raised('Error', 'tlsv13 alert certificate required', { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' }), 'redis');
    expect(certificateRequired?.message).toMatch(/^the TLS handshake with Redis failed/);
    expect(certificateRequired?.hint).toMatch(/redis\.tls\.cert and redis\.tls\.key/);
  });

  it('says credentials were turned down, naming the keys that hold them', () => {
    const redis = connectionRefusal(raised('ReplyError', 'WRONGPASS invalid username-password pair or user is disabled.'), 'redis');
    expect(redis?.message).toBe("Redis refused Braid's credentials: WRONGPASS invalid username-password pair or user is disabled.");
    expect(redis?.hint).toMatch(/redis\.password/);
    const kafka = connectionRefusal(raised('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA256 authentication failed: invalid credentials'), 'kafka');
    expect(kafka?.message).toBe("Kafka refused Braid's credentials: SASL SCRAM SHA256 authentication failed: invalid credentials");
    expect(kafka?.hint).toMatch(/kafka\.sasl\.username and kafka\.sasl\.password/);
    const mechanism = connectionRefusal(raised('KafkaJSProtocolError', 'The broker does not support the requested SASL mechanism', { type: 'UNSUPPORTED_SASL_MECHANISM' }), 'kafka');
    expect(mechanism?.hint).toMatch(/^kafka\.sasl\.mechanism/);
  });

  it('leaves a server that does not answer, and any other error, alone', () => {
    expect(connectionRefusal(raised('Error', 'connect ECONNREFUSED 127.0.0.1:6379', { code: 'ECONNREFUSED' }), 'redis')).toBeUndefined();
    expect(connectionRefusal(raised('Error', 'read ECONNRESET', { code: 'ECONNRESET' }), 'redis')).toBeUndefined();
    expect(connectionRefusal(raised('ReplyError', 'ERR unknown command'), 'redis')).toBeUndefined();
  });
});

describe('toBraidError of a refused connection', () => {
  it('reports a refusal from kafkajs or a Redis command as such, and a Kafka that does not answer as before', () => {
    expect(toBraidError(kafkajsWrapped(raised('KafkaJSSASLAuthenticationError', 'SASL PLAIN authentication failed'))).message).toBe("Kafka refused Braid's credentials: SASL PLAIN authentication failed");
    expect(toBraidError(raised('ReplyError', 'NOAUTH Authentication required.')).message).toBe("Redis refused Braid's credentials: NOAUTH Authentication required.");
    const unreachable = toBraidError(kafkajsWrapped(raised('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { code: 'ECONNREFUSED' })));
    expect(unreachable.code).toBe(ErrorCode.KAFKA_UNREACHABLE);
    expect(unreachable.message).toMatch(/^Kafka did not answer/);
    expect(toBraidError(raised('ReplyError', 'ERR unknown command')).code).toBe(ErrorCode.INTERNAL);
  });
});
