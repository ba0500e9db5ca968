import { Command, CommanderError, Option } from 'commander';
import { BraidError, ErrorCode, toBraidError } from '../shared/errors/index.ts';
import { LOG_FORMATS } from '../shared/logging/index.ts';
import { apikeyCommand } from './commands/apikey.ts';
import { archiveCommand } from './commands/archive.ts';
import { compactCommand } from './commands/compact.ts';
import { configCommand } from './commands/config.ts';
import { dagCommand, dagsCommand } from './commands/dags.ts';
import { devCommand } from './commands/dev.ts';
import { produceCommand } from './commands/produce.ts';
import { queryCommand } from './commands/query.ts';
import { recomputeCommand, versionsCommand } from './commands/recompute.ts';
import { schemaCommand } from './commands/schema.ts';
import { serveCommand } from './commands/serve.ts';
import { sourcesCommand } from './commands/sources.ts';
import { speedCommand } from './commands/speed.ts';
import { stackCommand } from './commands/stack.ts';
import { viewsCommand } from './commands/views.ts';
import { schedulerCommand, workerCommand } from './commands/workflow-processes.ts';

export function buildProgram(): Command {
  const program = new Command('braid')
    .description('Braid: one view definition, a real-time number and an accurate number, merged behind one API.')
    .option('-c, --config <file>', 'config file (default: braid.config.yaml in the current folder, or $BRAID_CONFIG)')
    .addOption(
      new Option('--log-format <format>', 'logs on stderr: json (one object a line), pretty (human lines) or auto: pretty on a terminal, json otherwise (default: log.format, $BRAID_LOG_FORMAT, else auto)').choices(LOG_FORMATS),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.addCommand(devCommand());
  program.addCommand(stackCommand());
  program.addCommand(produceCommand());
  program.addCommand(sourcesCommand());
  program.addCommand(viewsCommand());
  program.addCommand(speedCommand());
  program.addCommand(archiveCommand());
  program.addCommand(compactCommand());
  program.addCommand(recomputeCommand());
  program.addCommand(versionsCommand());
  program.addCommand(serveCommand());
  program.addCommand(queryCommand());
  program.addCommand(schedulerCommand());
  program.addCommand(workerCommand());
  program.addCommand(dagsCommand());
  program.addCommand(dagCommand());
  program.addCommand(schemaCommand());
  program.addCommand(apikeyCommand());
  program.addCommand(configCommand());
  return program;
}

/** Runs the CLI; never throws: failures print a clear message and set a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // Commander has already printed help or the usage error.
      process.exitCode = thrown.exitCode;
      return;
    }
    const error = toBraidError(thrown);
    process.stderr.write(`braid: ${error.message}\n`);
    if (error.hint) process.stderr.write(`${error.hint.replace(/^/gm, '  ')}\n`);
    if (error.code === ErrorCode.INTERNAL && error.cause instanceof Error && error.cause.stack) {
      process.stderr.write(`${error.cause.stack}\n`);
    }
    process.exitCode = error.code === ErrorCode.BAD_ARGUMENT || error.code === ErrorCode.CONFIG_INVALID ? 2 : 1;
  }
}

export { BraidError };
