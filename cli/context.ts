import { Command } from 'commander';
import { loadCatalog, type Catalog } from '../shared/catalog/index.ts';
import { loadConfig, type Config } from '../shared/config/index.ts';
import { createLogger, type Logger, type LogFormat } from '../shared/logging/index.ts';

/** Options every braid command accepts (declared once on the root program). */
export interface GlobalOptions {
  config?: string;
  logFormat?: LogFormat;
}

/** Loads configuration for a command, honouring the global `--config` and `--log-format` flags. */
export function configFor(command: Command, overrides: Record<string, unknown> = {}): Config {
  const globals = command.optsWithGlobals<GlobalOptions>();
  return loadConfig({ ...(globals.config ? { configFile: globals.config } : {}), overrides: { 'log.format': globals.logFormat, ...overrides } });
}

/** The logger of a command's process, at `log.level` in `log.format`. */
export function loggerFor(config: Config, name: string): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, name });
}

/** Human-readable progress for interactive commands: stderr, so stdout stays the command's output. */
export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** The sources and views a command serves: the demo (unless views.includeDemo is off), the config file's, sources.dir's and views.dir's. */
export function catalogFor(config: Config): Promise<Catalog> {
  return loadCatalog(config);
}
