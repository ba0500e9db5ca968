/**
 * The environment variables Braid reads, each mapped to one config key.
 * Environment overrides the config file. Only the config module reads
 * `process.env`; the README's configuration table is checked against this list.
 */
export interface EnvVar {
  readonly name: string;
  readonly path: readonly string[];
  readonly kind: 'string' | 'number' | 'list';
}

export const CONFIG_FILE_ENV = 'BRAID_CONFIG';

export const ENV_VARS: readonly EnvVar[] = [
  { name: 'KAFKA_BROKERS', path: ['kafka', 'brokers'], kind: 'list' },
  { name: 'REDIS_URL', path: ['redis', 'url'], kind: 'string' },
  { name: 'BRAID_REDIS_KEY_PREFIX', path: ['redis', 'keyPrefix'], kind: 'string' },
  { name: 'BRAID_DATA_DIR', path: ['dataDir'], kind: 'string' },
  { name: 'BRAID_STACK_DIR', path: ['stack', 'dir'], kind: 'string' },
  { name: 'BRAID_STACK_KAFKA_PORT', path: ['stack', 'kafkaPort'], kind: 'number' },
  { name: 'BRAID_STACK_KAFKA_CONTROLLER_PORT', path: ['stack', 'kafkaControllerPort'], kind: 'number' },
  { name: 'BRAID_STACK_REDIS_PORT', path: ['stack', 'redisPort'], kind: 'number' },
  { name: 'BRAID_CACHE_DIR', path: ['stack', 'cacheDir'], kind: 'string' },
  { name: 'BRAID_SERVING_HOST', path: ['serving', 'host'], kind: 'string' },
  { name: 'BRAID_SERVING_PORT', path: ['serving', 'port'], kind: 'number' },
  { name: 'BRAID_JWT_SECRET', path: ['serving', 'auth', 'jwtSecret'], kind: 'string' },
  { name: 'BRAID_METRICS_HOST', path: ['metrics', 'host'], kind: 'string' },
  { name: 'BRAID_METRICS_PORT', path: ['metrics', 'port'], kind: 'number' },
  { name: 'BRAID_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { name: 'BRAID_LOG_FORMAT', path: ['log', 'format'], kind: 'string' },
  { name: 'BRAID_VIEWS_DIR', path: ['views', 'dir'], kind: 'string' },
  { name: 'BRAID_SOURCES_DIR', path: ['sources', 'dir'], kind: 'string' },
  { name: 'BRAID_WORKFLOWS_DIR', path: ['workflows', 'dir'], kind: 'string' },
  { name: 'BRAID_SPEED_FLUSH_INTERVAL_MS', path: ['speed', 'flushIntervalMs'], kind: 'number' },
  { name: 'BRAID_ARCHIVE_FLUSH_INTERVAL_MS', path: ['archive', 'flushIntervalMs'], kind: 'number' },
];

/** Converts an env var's text to the value its key expects; bad text is left for the schema to reject. */
export function envValue(envVar: EnvVar, text: string): unknown {
  if (envVar.kind === 'list') return text.split(',').map((item) => item.trim()).filter(Boolean);
  if (envVar.kind === 'number') return /^\s*\d+\s*$/.test(text) ? Number(text) : text;
  return text;
}
