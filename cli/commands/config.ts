import { Command } from 'commander';
import { ENV_VARS, redactedConfig } from '../../shared/config/index.ts';
import { configFor } from '../context.ts';

export function configCommand(): Command {
  return new Command('config')
    .description('validate the configuration and print it as braid sees it (file + environment + defaults), secrets shown as ***')
    .option('--env-vars', 'list the environment variables braid reads instead')
    .action((options: { envVars?: boolean }, command: Command) => {
      if (options.envVars) {
        for (const envVar of ENV_VARS) process.stdout.write(`${envVar.name.padEnd(36)} ${envVar.path.join('.')}\n`);
        return;
      }
      process.stdout.write(`${JSON.stringify(redactedConfig(configFor(command)), null, 2)}\n`);
    });
}
