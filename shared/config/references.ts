import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Keys whose value may name where it is kept instead of holding it: secrets, and TLS material that lives in
 * PEM files. Written anywhere a value is (config file, environment variable, flag):
 *
 * - `file:<path>`: the file's content without its trailing line breaks (a Docker or Kubernetes secret, a PEM
 *   file); a relative path is taken from the working folder, like every path in the configuration;
 * - `env:<NAME>`: the environment variable `NAME`.
 *
 * @example
 * // braid.config.yaml
 * // kafka:
 * //   sasl: { mechanism: scram-sha-512, username: braid, password: env:KAFKA_PASSWORD }
 * //   ssl: { ca: file:/etc/braid/kafka-ca.pem }
 */
export const REFERENCE_KEYS = [
  'kafka.ssl.ca',
  'kafka.ssl.cert',
  'kafka.ssl.key',
  'kafka.sasl.username',
  'kafka.sasl.password',
  'redis.url',
  'redis.username',
  'redis.password',
  'redis.tls.ca',
  'redis.tls.cert',
  'redis.tls.key',
  'serving.auth.jwtSecret',
] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ReferenceProblem {
  readonly key: string;
  readonly message: string;
}

/**
 * Replaces, in `raw` (merged file, environment and flags, before validation), every reference at a
 * {@link REFERENCE_KEYS} key by the value it names. Returns what could not be read, by key; those keys keep
 * their reference text. Problems name the file or variable, never a value read.
 */
export function resolveReferences(raw: Record<string, unknown>, options: { env: NodeJS.ProcessEnv; cwd: string }): ReferenceProblem[] {
  const problems: ReferenceProblem[] = [];
  for (const key of REFERENCE_KEYS) {
    const parts = key.split('.');
    const parent = objectAt(raw, parts.slice(0, -1));
    const name = parts[parts.length - 1]!;
    const value = parent?.[name];
    if (parent === undefined || typeof value !== 'string') continue;
    const resolved = resolveOne(value, options);
    if (resolved === undefined) continue;
    if ('problem' in resolved) problems.push({ key, message: resolved.problem });
    else parent[name] = resolved.value;
  }
  return problems;
}

/** The value a reference names, a problem, or undefined for a value that is not a reference. */
function resolveOne(text: string, options: { env: NodeJS.ProcessEnv; cwd: string }): { value: string } | { problem: string } | undefined {
  if (text.startsWith('env:')) {
    const name = text.slice('env:'.length);
    if (!ENV_NAME.test(name)) return { problem: `${text} does not name an environment variable (env:NAME, letters, digits and _)` };
    const value = options.env[name];
    if (value === undefined || value === '') return { problem: `${text}: the environment variable ${name} is not set` };
    return { value };
  }
  if (text.startsWith('file:')) {
    const reference = text.slice('file:'.length);
    if (reference === '') return { problem: 'file: names no file (file:<path>)' };
    let file = reference;
    let content: string;
    try {
      // file:///etc/braid/ca.pem is a file URL; file:/etc/braid/ca.pem and file:certs/ca.pem are paths.
      file = reference.startsWith('//') ? fileURLToPath(text) : path.resolve(options.cwd, reference);
      content = readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not allowed to read it' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
      return { problem: `${text} cannot be read (${file}: ${why})` };
    }
    const value = content.replace(/[\r\n]+$/, '');
    if (value === '') return { problem: `${text} is empty (${file})` };
    return { value };
  }
  return undefined;
}

function objectAt(root: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> | undefined {
  let node: unknown = root;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>) : undefined;
}
