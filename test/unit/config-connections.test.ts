import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { loadConfig, redactedConfig } from '../../shared/config/index.ts';
import { makeCertificates, type TestCertificates } from '../harness/certificates.ts';

const KAFKA_PASSWORD = 'kafka-hunter2-password';
const REDIS_PASSWORD = 'redis-hunter2-password';
const JWT_SECRET = 'jwt-hunter2-secret-of-at-least-32-characters';

let certificates: TestCertificates;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'braid-config-connections-'));
  certificates = makeCertificates(dir);
  writeFileSync(path.join(dir, 'kafka-password'), `${KAFKA_PASSWORD}\n`);
  writeFileSync(path.join(dir, 'redis-password'), REDIS_PASSWORD);
});

/** A folder holding braid.config.yaml with `yaml`, loaded with `env`. */
function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'braid-config-'));
  writeFileSync(path.join(cwd, 'braid.config.yaml'), yaml);
  return loadConfig({ env, cwd });
}

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    load(yaml, env);
  } catch (error) {
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    return (error as BraidError).message;
  }
  throw new Error('expected a config error');
}

describe('kafka.ssl and kafka.sasl', () => {
  it('read the CA from a file and the password from an environment variable', () => {
    const config = load(
      `kafka:
  brokers: [kafka.internal:9093]
  ssl: { ca: file:${certificates.caFile}, servername: kafka.internal }
  sasl: { mechanism: SCRAM-SHA-512, username: braid, password: env:KAFKA_PASSWORD }
`,
      { KAFKA_PASSWORD },
    );
    expect(config.kafka.ssl).toEqual({ ca: certificates.pem(certificates.caFile).trimEnd(), servername: 'kafka.internal', rejectUnauthorized: true });
    expect(config.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'braid', password: KAFKA_PASSWORD });
  });

  it('take `ssl: true` for TLS with Node\'s CAs, a client certificate with its key, and a password file without its line break', () => {
    const config = load(`kafka:
  brokers: [kafka.internal:9093]
  ssl: true
  sasl: { mechanism: plain, username: braid, password: file:${path.join(dir, 'kafka-password')} }
`);
    expect(config.kafka.ssl).toEqual({ rejectUnauthorized: true });
    expect(config.kafka.sasl?.password).toBe(KAFKA_PASSWORD);
    const mutual = load(`kafka:
  brokers: [kafka.internal:9093]
  ssl: { cert: file:${certificates.clientCertFile}, key: file:${certificates.clientKeyFile} }
`);
    expect(mutual.kafka.ssl?.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('are plaintext without authentication when unset', () => {
    const config = load('kafka:\n  brokers: [kafka.internal:9092]\n');
    expect(config.kafka.ssl).toBeUndefined();
    expect(config.kafka.sasl).toBeUndefined();
  });

  it('fail at start naming the key, for each kind of bad value', () => {
    const brokers = 'kafka:\n  brokers: [kafka.internal:9093]\n';
    expect(problems(`${brokers}  ssl: { ca: ${certificates.caFile} }\n`)).toMatch(/kafka\.ssl\.ca \(from braid\.config\.yaml\): expected PEM certificates .*or file:<path>/);
    expect(problems(`${brokers}  ssl: { ca: file:${path.join(dir, 'missing.pem')} }\n`)).toMatch(/kafka\.ssl\.ca \(from braid\.config\.yaml\): file:.*missing\.pem cannot be read \(.*: no such file\)/);
    expect(problems(`${brokers}  ssl: { ca: "-----BEGIN CERTIFICATE-----\\nbm90IGEgY2VydGlmaWNhdGU=\\n-----END CERTIFICATE-----" }\n`)).toMatch(/kafka\.ssl\.ca.*certificate 1 of 1 does not parse/);
    expect(problems(`${brokers}  ssl: { cert: file:${certificates.clientCertFile} }\n`)).toMatch(/kafka\.ssl\.key.*cert and key go together/);
    expect(problems(`${brokers}  ssl: { cert: file:${certificates.clientCertFile}, key: file:${certificates.serverKeyFile} }\n`)).toMatch(/kafka\.ssl\.key.*does not belong to the certificate/);
    expect(problems(`${brokers}  ssl: yes\n`)).toMatch(/kafka\.ssl.*expected a mapping of ca, cert, key/);
    expect(problems(`${brokers}  ssl: { verify: false }\n`)).toMatch(/kafka\.ssl\.verify.*unknown key/);
    expect(problems(`${brokers}  sasl: true\n`)).toMatch(/kafka\.sasl.*expected a mapping of mechanism, username, password/);
    expect(problems(`${brokers}  sasl: { mechanism: gssapi, username: braid, password: x }\n`)).toMatch(/kafka\.sasl\.mechanism.*expected one of scram-sha-256, scram-sha-512, plain/);
    expect(problems(`${brokers}  sasl: { mechanism: plain, username: braid, password: env:KAFKA_PASSWORD }\n`)).toMatch(/kafka\.sasl\.password.*env:KAFKA_PASSWORD: the environment variable KAFKA_PASSWORD is not set/);
    expect(problems('kafka:\n  ssl: true\n')).toMatch(/kafka\.ssl.*set kafka\.brokers too/);
  });

  it('refuse an encrypted private key with what to do instead', () => {
    const encrypted = path.join(dir, 'encrypted.key');
    writeFileSync(encrypted, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n');
    expect(problems(`kafka:\n  brokers: [k:9093]\n  ssl: { cert: file:${certificates.clientCertFile}, key: file:${encrypted} }\n`)).toMatch(/kafka\.ssl\.key.*encrypted; Braid takes an unencrypted PEM key/);
  });
});

describe('redis.password, redis.username and redis.tls', () => {
  it('read the password from a file and the certificates from files, for a rediss:// URL', () => {
    const config = load(`redis:
  url: rediss://cache.internal:6380
  username: braid
  password: file:${path.join(dir, 'redis-password')}
  tls: { ca: file:${certificates.caFile}, cert: file:${certificates.clientCertFile}, key: file:${certificates.clientKeyFile} }
`);
    expect(config.redis.password).toBe(REDIS_PASSWORD);
    expect(config.redis.username).toBe('braid');
    expect(config.redis.tls?.ca).toContain('-----BEGIN CERTIFICATE-----');
    expect(config.redis.tls?.rejectUnauthorized).toBe(true);
    expect(load('redis:\n  url: rediss://cache.internal:6380\n  tls: true\n').redis.tls).toEqual({ rejectUnauthorized: true });
  });

  it('take redis.url itself from a file named by REDIS_URL, and serving.auth.jwtSecret from another variable', () => {
    const urlFile = path.join(dir, 'redis-url');
    writeFileSync(urlFile, `rediss://:${REDIS_PASSWORD}@cache.internal:6380/2\n`);
    const config = load('', { REDIS_URL: `file:${urlFile}`, BRAID_JWT_SECRET: 'env:JWT_FROM_VAULT', JWT_FROM_VAULT: JWT_SECRET });
    expect(config.redis.url).toBe(`rediss://:${REDIS_PASSWORD}@cache.internal:6380/2`);
    expect(config.redis.urlFrom).toBe('env');
    expect(config.serving.auth.jwtSecret).toBe(JWT_SECRET);
  });

  it('fail at start naming the key when they do not fit together', () => {
    expect(problems(`redis:\n  url: redis://cache:6379\n  tls: { ca: file:${certificates.caFile} }\n`)).toMatch(/redis\.tls.*TLS needs a rediss:\/\/ URL/);
    expect(problems('redis:\n  url: redis://:one@cache:6379\n  password: two\n')).toMatch(/redis\.password.*redis\.url holds a password too/);
    expect(problems('redis:\n  url: redis://cache:6379\n  username: braid\n')).toMatch(/redis\.username.*a user needs a password/);
    expect(problems('redis:\n  password: two\n')).toMatch(/redis\.password.*set redis\.url too/);
  });

  it('never print a secret read from a reference when it is rejected', () => {
    const shortSecret = path.join(dir, 'short-secret');
    writeFileSync(shortSecret, 'hunter2-short');
    const message = problems('', { BRAID_JWT_SECRET: `file:${shortSecret}`, REDIS_URL: 'env:BAD_URL', BAD_URL: 'http://hunter2-host' });
    expect(message).toMatch(/serving\.auth\.jwtSecret \(from env BRAID_JWT_SECRET\): use at least 32 characters/);
    expect(message).toMatch(/redis\.url \(from env REDIS_URL\): expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(message).not.toMatch(/hunter2/);
  });
});

describe('redactedConfig of connection settings', () => {
  it('shows every password and private key as ***, whether written in the file or read from a reference, and keeps the rest', () => {
    const config = load(
      `kafka:
  brokers: [kafka.internal:9093]
  ssl: { ca: file:${certificates.caFile}, cert: file:${certificates.clientCertFile}, key: file:${certificates.clientKeyFile} }
  sasl: { mechanism: scram-sha-256, username: braid, password: env:KAFKA_PASSWORD }
redis:
  url: rediss://cache.internal:6380
  password: ${REDIS_PASSWORD}
  tls: { ca: file:${certificates.caFile}, cert: file:${certificates.clientCertFile}, key: file:${certificates.clientKeyFile} }
`,
      { KAFKA_PASSWORD, BRAID_JWT_SECRET: JWT_SECRET },
    );
    const shown = redactedConfig(config);
    expect(shown.kafka.sasl).toEqual({ mechanism: 'scram-sha-256', username: 'braid', password: '***' });
    expect(shown.kafka.ssl?.key).toBe('***');
    expect(shown.kafka.ssl?.ca).toBe(config.kafka.ssl?.ca);
    expect(shown.redis.password).toBe('***');
    expect(shown.redis.tls?.key).toBe('***');
    expect(shown.redis.keyPrefix).toBe('braid:');
    const printed = JSON.stringify(shown);
    expect(printed).not.toMatch(/hunter2|PRIVATE KEY/);
    expect(config.kafka.sasl?.password).toBe(KAFKA_PASSWORD);
  });

  it('shows a PEM private key as *** whatever key holds it', () => {
    const key = certificates.pem(certificates.clientKeyFile);
    expect(redactedConfig({ sources: { notes: { description: key } } })).toEqual({ sources: { notes: { description: '***' } } });
  });
});
