export { loadConfig, sourceSettings, DEFAULT_CONFIG_FILES, type Config, type EndpointOrigin, type LoadConfigOptions } from './load-config.ts';
export { redactedConfig, redactUrl, REDACTED } from './redact-config.ts';
export { ConfigSchema, LOG_LEVELS, type SourceSettings } from './schema.ts';
export { ENV_VARS, CONFIG_FILE_ENV, type EnvVar } from './env-vars.ts';
export { readStackState, stackStateFile, type StackState, type StackProcessState } from './stack-state.ts';
