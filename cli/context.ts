import { Command } from 'commander';
import { loadConfig, type Config } from '../shared/config/index.ts';
import { loadViews, type ViewRegistry } from '../shared/views/index.ts';

/** Options every braid command accepts (declared once on the root program). */
export interface GlobalOptions {
  config?: string;
}

/** Loads configuration for a command, honouring the global `--config` flag. */
export function configFor(command: Command, overrides: Record<string, unknown> = {}): Config {
  const globals = command.optsWithGlobals<GlobalOptions>();
  return loadConfig({ ...(globals.config ? { configFile: globals.config } : {}), overrides });
}

/** Human-readable progress for interactive commands: stderr, so stdout stays the command's output. */
export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** The views a command serves: the demo views (unless views.includeDemo is off) and those in views.dir. */
export function viewsFor(config: Config): Promise<ViewRegistry> {
  return loadViews({ viewsDir: config.views.dir, includeDemo: config.views.includeDemo });
}
