/**
 * Braid's one error type. Every failure Braid reports carries a `code` from
 * {@link ErrorCode}, whether retrying may help, and structured context
 * (topic, partition, view, key, …) as `fields` rather than inside the message.
 */
export const ErrorCode = {
  /** Configuration did not validate. Not retriable: fix the named key. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A CLI argument or API input is invalid. */
  BAD_ARGUMENT: 'BAD_ARGUMENT',
  /** A required program (java, mvn, redis-server) is not on PATH. */
  TOOL_NOT_FOUND: 'TOOL_NOT_FOUND',
  /** Maven could not fetch the Kafka broker's jars. */
  MAVEN_FETCH_FAILED: 'MAVEN_FETCH_FAILED',
  /** A port Braid was told to use is taken by another process. */
  PORT_IN_USE: 'PORT_IN_USE',
  /** A local stack process started but never became ready, or died. */
  STACK_START_FAILED: 'STACK_START_FAILED',
  /** Kafka did not answer, or refused the connection (TLS, authentication: then not retriable). */
  KAFKA_UNREACHABLE: 'KAFKA_UNREACHABLE',
  /** Redis did not answer, or refused the connection (TLS, authentication: then not retriable). */
  REDIS_UNREACHABLE: 'REDIS_UNREACHABLE',
  /** Something named (a source, a view) does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** A request carried no credentials, or credentials that did not verify. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The caller's roles do not grant what it asked for. */
  FORBIDDEN: 'FORBIDDEN',
  /** A request asked (by `Accept`) for a response type the endpoint does not produce; `acceptable` lists those it does. */
  NOT_ACCEPTABLE: 'NOT_ACCEPTABLE',
  /** A request went past a limit (time range, rows, query depth, cost, aliases). */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /** A request body is larger than the server accepts; `maxBytes` says how large it may be. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** Too many requests from one caller; retry after the time given. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A request took longer than its allowed time. */
  TIMEOUT: 'TIMEOUT',
  /** A bug or an unexpected failure. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const RETRIABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.KAFKA_UNREACHABLE,
  ErrorCode.REDIS_UNREACHABLE,
  ErrorCode.RATE_LIMITED,
  ErrorCode.TIMEOUT,
]);

export interface BraidErrorOptions {
  cause?: unknown;
  /** Overrides the code's default. */
  retriable?: boolean;
  /** Structured context: topic, partition, view, key, path, … */
  fields?: Record<string, unknown>;
  /** What the user can do about it, printed under the message by the CLI. */
  hint?: string;
}

export class BraidError extends Error {
  override readonly name = 'BraidError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: BraidErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? RETRIABLE_BY_DEFAULT.has(code);
    this.fields = options.fields ?? {};
    this.hint = options.hint;
  }
}

/** The errors a thrown error wraps: `cause`, and kafkajs's `originalError` / retry `cause`. */
function errorChain(thrown: unknown): Error[] {
  const chain: Error[] = [];
  for (let error = thrown; error instanceof Error && chain.length < 10 && !chain.includes(error); ) {
    chain.push(error);
    error = (error as { originalError?: unknown }).originalError ?? error.cause;
  }
  return chain;
}

/**
 * Turns anything thrown into a BraidError, keeping the original as `cause`; Kafka that does not answer is said so,
 * and so is Kafka or Redis refusing the connection ({@link connectionRefusal}).
 */
export function toBraidError(thrown: unknown): BraidError {
  if (thrown instanceof BraidError) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  const chain = errorChain(thrown);
  const kafka = chain.some((error) => error.name.startsWith('KafkaJS'));
  const refusal = kafka ? connectionRefusal(thrown, 'kafka') : chain.some(isRedisAuthReply) ? connectionRefusal(thrown, 'redis') : undefined;
  if (refusal) return refusal;
  const unreachable = chain.find((error) => error.name === 'KafkaJSConnectionError' || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Connection timeout/.test(error.message));
  if (kafka && unreachable) {
    return new BraidError(ErrorCode.KAFKA_UNREACHABLE, `Kafka did not answer: ${unreachable.message}`, {
      cause: thrown,
      hint: 'is the broker running? `npx braid stack up` starts a local one; kafka.brokers (KAFKA_BROKERS) says where it is',
    });
  }
  return new BraidError(ErrorCode.INTERNAL, message, { cause: thrown });
}

type Service = 'kafka' | 'redis';

const SERVICE: Record<Service, { name: string; tls: string; tlsWhen: string; credentials: string }> = {
  kafka: {
    name: 'Kafka',
    tls: 'kafka.ssl',
    tlsWhen: 'when kafka.ssl is set, plaintext otherwise',
    credentials: 'check kafka.sasl.username and kafka.sasl.password, and kafka.sasl.mechanism: the broker holds a user\'s SCRAM credentials per mechanism',
  },
  redis: {
    name: 'Redis',
    tls: 'redis.tls',
    tlsWhen: 'for a rediss:// URL, plaintext for redis://',
    credentials: 'check redis.password and redis.username, or the user and password in redis.url',
  },
};

/** A Redis reply refusing the credentials sent, or asking for some. */
function isRedisAuthReply(error: Error): boolean {
  return error.name === 'ReplyError' && /^(WRONGPASS|NOAUTH)\b/.test(error.message);
}

/**
 * The error a refused connection is reported as: a server certificate that does not verify, a TLS handshake that
 * fails (a plaintext port, a client certificate the server wants), credentials the server turns down, a SASL
 * mechanism it does not offer. Each says what happened and which keys to check; none is retriable, since trying
 * again does the same. Undefined when `thrown` is none of these (a server that does not answer is not refusing).
 *
 * @example
 * redis.on('error', (error) => { const refusal = connectionRefusal(error, 'redis'); if (refusal) fail(refusal); });
 */
export function connectionRefusal(thrown: unknown, service: Service): BraidError | undefined {
  const { name, tls, tlsWhen, credentials } = SERVICE[service];
  const refuse = (message: string, hint: string) => new BraidError(service === 'kafka' ? ErrorCode.KAFKA_UNREACHABLE : ErrorCode.REDIS_UNREACHABLE, message, { cause: thrown, retriable: false, hint });
  for (const error of errorChain(thrown)) {
    const code = String((error as NodeJS.ErrnoException).code ?? '');
    const detail = error.message.replace(/^Connection error: /, '');
    if (code.startsWith('ERR_SSL_')) {
      return refuse(`the TLS handshake with ${name} failed: ${detail}`, `is that port TLS? Braid speaks TLS to ${name} ${tlsWhen}; a server that asks for a client certificate needs ${tls}.cert and ${tls}.key`);
    }
    if (/CERT|SIGNATURE|ALTNAME/.test(code)) {
      return refuse(`${name}'s TLS certificate is not trusted: ${detail}`, `${tls}.ca names the CA that signed the server's certificate (PEM text, or file:<path>); ${tls}.servername the name it carries, if it is not the host connected to`);
    }
    if (error.name === 'KafkaJSSASLAuthenticationError' || isRedisAuthReply(error)) {
      return refuse(`${name} refused Braid's credentials: ${detail}`, credentials);
    }
    if (error.name === 'KafkaJSProtocolError' && (error as { type?: string }).type === 'UNSUPPORTED_SASL_MECHANISM') {
      return refuse(`${name} does not accept the SASL mechanism configured: ${detail}`, 'kafka.sasl.mechanism: scram-sha-256, scram-sha-512 or plain, as the broker\'s listener enables');
    }
  }
  return undefined;
}

/** For the default of a switch over a union that covers every member: the compiler proves it unreachable. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
