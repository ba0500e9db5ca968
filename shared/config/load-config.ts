import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { BraidError, ErrorCode } from '../errors/index.ts';
import { sourceSpecProblems } from '../sources/index.ts';
import { CONFIG_FILE_ENV, ENV_VARS, envValue } from './env-vars.ts';
import { ConfigSchema, SourceSettingsSchema, type ParsedConfig, type SourceEntry, type SourceSettings } from './schema.ts';
import { resolveReferences } from './references.ts';
import { readStackState } from './stack-state.ts';

/** Where an endpoint (Kafka brokers, Redis URL) came from. */
export type EndpointOrigin = 'env' | 'file' | 'stack' | 'default';

/** Braid's typed, validated configuration. Paths are absolute. */
export interface Config extends Omit<ParsedConfig, 'kafka' | 'redis' | 'sources'> {
  readonly kafka: ParsedConfig['kafka'] & { readonly brokers: string[]; readonly brokersFrom: EndpointOrigin };
  readonly redis: ParsedConfig['redis'] & { readonly url: string; readonly urlFrom: EndpointOrigin };
  readonly sources: {
    /** Folder of source modules (absolute). */
    readonly dir: string;
    /** Settings by source name, as configured; {@link sourceSettings} fills in the defaults for the others. */
    readonly settings: Readonly<Record<string, SourceSettings>>;
    /** Sources declared in the config file (`sources.<name>.fields`), as written there; the catalog defines them. */
    readonly declarations: ReadonlyArray<{ readonly name: string; readonly spec: Record<string, unknown> }>;
  };
  /** The config file read, if any. */
  readonly configFile: string | undefined;
}

export interface LoadConfigOptions {
  /** Environment to read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder relative paths are resolved against. Default: process.cwd(). */
  cwd?: string;
  /** Explicit config file (as from `--config`); overrides BRAID_CONFIG. */
  configFile?: string;
  /** Values applied over file and env (as from CLI flags). */
  overrides?: Record<string, unknown>;
}

export const DEFAULT_CONFIG_FILES = ['braid.config.yaml', 'braid.config.yml', 'braid.config.json'];

/**
 * Reads, merges and validates configuration once: schema defaults, then the
 * config file, then environment variables, then `overrides`. Secrets and TLS
 * material written as `file:<path>` or `env:<NAME>` are read (the keys of
 * REFERENCE_KEYS). Every problem is reported at once, each naming its
 * key and where the bad value came from.
 *
 * @example
 * const config = loadConfig(); // braid.config.yaml in cwd if present, plus env
 * config.kafka.brokers; // ['127.0.0.1:19092']
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const { file, raw: fileRaw } = readConfigFile(cwd, options.configFile ?? env[CONFIG_FILE_ENV]);

  const raw: Record<string, unknown> = structuredClone(fileRaw);
  const origins = new Map<string, string>();
  for (const envVar of ENV_VARS) {
    const text = env[envVar.name];
    if (text === undefined || text === '') continue;
    setPath(raw, envVar.path, envValue(envVar, text));
    origins.set(envVar.path.join('.'), `env ${envVar.name}`);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key.split('.'), value);
    origins.set(key, 'command line');
  }

  const referenceProblems = resolveReferences(raw, { env, cwd });
  const parsed = ConfigSchema.safeParse(raw);
  const problems: string[] = referenceProblems.map(({ key, message }) => `${key}${originNote(key, origins, file)}: ${message}`);
  if (!parsed.success) {
    // A key whose reference could not be read is reported once, for that.
    const unread = new Set(referenceProblems.map(({ key }) => key));
    for (const issue of parsed.error.issues) {
      if (!unread.has(issue.path.map(String).join('.'))) problems.push(describeIssue(issue, origins, file));
    }
  }
  // Source declarations are checked from what was written, so their problems come with every other one.
  const rawSources = raw.sources;
  if (typeof rawSources === 'object' && rawSources !== null && !Array.isArray(rawSources)) {
    for (const [name, entry] of Object.entries(rawSources as Record<string, unknown>)) {
      if (name === 'dir' || typeof entry !== 'object' || entry === null || Array.isArray(entry)) continue;
      const declaration = declarationOf(name, entry as SourceEntry);
      const where = `sources.${name}${originNote(`sources.${name}`, origins, file)}`;
      if (declaration === undefined) {
        for (const key of ['timeField', 'keyFields', 'description'] as const) {
          if ((entry as SourceEntry)[key] !== undefined) problems.push(`${where}: ${key} declares a source only together with fields`);
        }
        continue;
      }
      for (const problem of sourceSpecProblems(declaration)) problems.push(`${where}: ${problem}`);
    }
  }
  if (!parsed.success || problems.length > 0) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      fields: { configFile: file, problems },
      hint: 'fix the keys above in the config file or the environment; `npx braid config` prints the configuration in effect',
    });
  }
  const config = parsed.data;

  const stackDir = path.resolve(cwd, config.stack.dir);
  const stack = readStackState(stackDir);
  const brokersFrom = endpointOrigin('kafka.brokers', config.kafka.brokers, origins, stack.kafka);
  const urlFrom = endpointOrigin('redis.url', config.redis.url, origins, stack.redis);

  const settings: Record<string, SourceSettings> = {};
  const declarations: Array<{ name: string; spec: Record<string, unknown> }> = [];
  for (const [name, entry] of sourceEntries(config.sources)) {
    const { topic, partitions, maxOutOfOrdernessMs, idleTimeoutMs } = entry;
    settings[name] = { ...(topic === undefined ? {} : { topic }), partitions, maxOutOfOrdernessMs, idleTimeoutMs };
    const declaration = declarationOf(name, entry);
    if (declaration) declarations.push({ name, spec: declaration });
  }

  return {
    ...config,
    kafka: {
      ...config.kafka,
      brokers: config.kafka.brokers ?? [`127.0.0.1:${stack.kafka?.port ?? config.stack.kafkaPort}`],
      brokersFrom,
    },
    redis: {
      ...config.redis,
      url: config.redis.url ?? `redis://127.0.0.1:${stack.redis?.port ?? config.stack.redisPort}`,
      urlFrom,
    },
    dataDir: path.resolve(cwd, config.dataDir),
    views: { ...config.views, dir: path.resolve(cwd, config.views.dir) },
    workflows: { ...config.workflows, dir: path.resolve(cwd, config.workflows.dir) },
    stack: {
      ...config.stack,
      dir: stackDir,
      ...(config.stack.cacheDir === undefined ? {} : { cacheDir: path.resolve(cwd, config.stack.cacheDir) }),
    },
    sources: { dir: path.resolve(cwd, config.sources.dir), settings, declarations },
    configFile: file,
  };
}

/** The settings of a source: as configured under `sources.<name>`, or the defaults. */
export function sourceSettings(config: Pick<Config, 'sources'>, source: string): SourceSettings {
  return config.sources.settings[source] ?? SourceSettingsSchema.parse({});
}

/** The entries of `sources:` that name a source (every key but `dir`). */
function sourceEntries(sources: ParsedConfig['sources']): Array<[string, SourceEntry]> {
  return Object.entries(sources).filter((entry): entry is [string, SourceEntry] => entry[0] !== 'dir');
}

/** A config entry as a source declaration (what `defineSource` takes), if it declares one (has `fields`). */
function declarationOf(name: string, entry: SourceEntry): Record<string, unknown> | undefined {
  if (entry.fields === undefined) return undefined;
  const { fields, timeField, keyFields, description, topic } = entry;
  return { name, fields, timeField, keyFields, ...(description === undefined ? {} : { description }), ...(topic === undefined ? {} : { topic }) };
}

function endpointOrigin(
  key: string,
  value: unknown,
  origins: Map<string, string>,
  stackProcess: unknown,
): EndpointOrigin {
  if (value !== undefined) return origins.get(key)?.startsWith('env') ? 'env' : 'file';
  return stackProcess ? 'stack' : 'default';
}

function readConfigFile(cwd: string, explicit: string | undefined): { file: string | undefined; raw: Record<string, unknown> } {
  let file: string | undefined;
  if (explicit) {
    file = path.resolve(cwd, explicit);
    if (!existsSync(file)) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `config file ${file} does not exist`, {
        fields: { configFile: file },
        hint: `check --config or ${CONFIG_FILE_ENV}`,
      });
    }
  } else {
    file = DEFAULT_CONFIG_FILES.map((name) => path.join(cwd, name)).find((candidate) => existsSync(candidate));
  }
  if (!file) return { file: undefined, raw: {} };
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `config file ${file} is not valid YAML/JSON: ${(error as Error).message}`, {
      cause: error,
      fields: { configFile: file },
    });
  }
  if (raw === null || raw === undefined) return { file, raw: {} };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `config file ${file} must hold a mapping of keys, e.g. "kafka:"`, {
      fields: { configFile: file },
    });
  }
  return { file, raw: raw as Record<string, unknown> };
}

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function originNote(key: string, origins: Map<string, string>, file: string | undefined): string {
  // The most specific origin wins: `kafka.brokers.0` was set by whoever set `kafka.brokers`.
  const parts = key.split('.');
  for (let length = parts.length; length > 0; length--) {
    const origin = origins.get(parts.slice(0, length).join('.'));
    if (origin) return ` (from ${origin})`;
  }
  return file ? ` (from ${path.basename(file)})` : '';
}

function describeIssue(issue: z.core.$ZodIssue, origins: Map<string, string>, file: string | undefined): string {
  const at = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const full = [...at, key].join('.');
        return `${full}${originNote(full, origins, file)}: unknown key`;
      })
      .join('\n  - ');
  }
  const key = at.length > 0 ? at.join('.') : '(root)';
  return `${key}${originNote(key, origins, file)}: ${issue.message}`;
}
