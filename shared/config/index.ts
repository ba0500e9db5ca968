export { loadConfig, sourceSettings, DEFAULT_CONFIG_FILES, type Config, type EndpointOrigin, type LoadConfigOptions } from './load-config.ts';
export { redactedConfig, redactUrl, REDACTED } from './redact-config.ts';
export { ConfigSchema, LOG_LEVELS, SASL_MECHANISMS, type SaslSettings, type SourceSettings, type TlsSettings } from './schema.ts';
export { REFERENCE_KEYS } from './references.ts';
export { ENV_VARS, CONFIG_FILE_ENV, type EnvVar } from './env-vars.ts';
export { readStackState, stackStateFile, type StackState, type StackProcessState } from './stack-state.ts';
