/** What a secret is printed as. */
export const REDACTED = '***';

/**
 * Keys whose values are secrets, whatever section they are in: `serving.auth.jwtSecret`, `kafka.sasl.password`,
 * `redis.password`, and `key`, the private key of `kafka.ssl` and `redis.tls`.
 */
const SECRET_KEY = /secret|password|^key$/i;

/** A private key in PEM form, whatever key holds it. */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * A URL with its password (`redis://:pw@host`, `redis://user:pw@host`, `?password=pw`) redacted; any other
 * text as it is.
 */
export function redactUrl(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  const inQuery = [...url.searchParams.keys()].filter((key) => SECRET_KEY.test(key));
  if (!url.password && inQuery.length === 0) return text;
  if (url.password) url.password = REDACTED;
  for (const key of inQuery) url.searchParams.set(key, REDACTED);
  return url.toString();
}

/**
 * A copy of the configuration fit to print: every secret (`serving.auth.jwtSecret`, `kafka.sasl.password`,
 * `redis.password`, the private keys `kafka.ssl.key` and `redis.tls.key`, any key named like a secret or a
 * password, any PEM private key) is {@link REDACTED}, and so is the password of every URL (`redis.url`).
 * Secrets read from `file:` or `env:` references are redacted the same way.
 *
 * @example
 * redactedConfig(config).serving.auth.jwtSecret; // '***' (when set)
 * redactedConfig(config).redis.url;              // 'redis://:***@cache.internal:6379'
 */
export function redactedConfig<T>(config: T): T {
  return redact(config) as T;
}

function redact(value: unknown, key?: string): unknown {
  if (typeof value === 'string') return (key !== undefined && SECRET_KEY.test(key)) || PRIVATE_KEY_PEM.test(value) ? REDACTED : redactUrl(value);
  if (Array.isArray(value)) return value.map((item) => redact(item));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, redact(item, name)]));
  }
  return value;
}
