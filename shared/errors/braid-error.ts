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
  /** Kafka did not answer. */
  KAFKA_UNREACHABLE: 'KAFKA_UNREACHABLE',
  /** Redis did not answer. */
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

/** Turns anything thrown into a BraidError, keeping the original as `cause`; Kafka that does not answer is said so. */
export function toBraidError(thrown: unknown): BraidError {
  if (thrown instanceof BraidError) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  const chain = errorChain(thrown);
  const kafka = chain.some((error) => error.name.startsWith('KafkaJS'));
  const unreachable = chain.find((error) => error.name === 'KafkaJSConnectionError' || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Connection timeout/.test(error.message));
  if (kafka && unreachable) {
    return new BraidError(ErrorCode.KAFKA_UNREACHABLE, `Kafka did not answer: ${unreachable.message}`, {
      cause: thrown,
      hint: 'is the broker running? `npx braid stack up` starts a local one; kafka.brokers (KAFKA_BROKERS) says where it is',
    });
  }
  return new BraidError(ErrorCode.INTERNAL, message, { cause: thrown });
}

/** For the default of a switch over a union that covers every member: the compiler proves it unreachable. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
