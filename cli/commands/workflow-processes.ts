import { Command } from 'commander';
import type { Config } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { createMetricsRegistry, startMetricsServer, type Registry } from '../../shared/metrics/index.ts';
import { loadWorkflows, Scheduler, WorkflowWorker, type WorkflowCatalog } from '../../workflows/index.ts';
import { wholeNumber } from '../arguments.ts';
import { catalogFor, configFor, loggerFor, say } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

/** The workflows of a command: Braid's own recompute workflow and those of workflows.dir. */
export async function workflowsFor(config: Config): Promise<WorkflowCatalog> {
  return loadWorkflows(config, await catalogFor(config));
}

/**
 * Runs a long-running workflow process (scheduler or worker) until SIGINT/SIGTERM: metrics served, structured
 * logs, a clean stop; a process that fails to start leaves nothing running.
 */
async function runUntilSignal(name: string, config: Config, start: (logger: Logger, registry: Registry) => Promise<{ stop(): Promise<void> }>): Promise<void> {
  const logger = loggerFor(config, name);
  const registry = createMetricsRegistry(name);
  const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
  let requested!: () => void;
  const stopping = new Promise<void>((resolve) => (requested = resolve));
  const remove = onShutdownSignal((signal) => {
    say(`${signal}: stopping the ${name}…`);
    requested();
  });
  try {
    const running = await start(logger, registry);
    say(`${name}: metrics on ${metrics.url}`);
    await stopping;
    await running.stop();
    say(`${name} stopped cleanly`);
  } finally {
    remove();
    await metrics.close();
  }
}

export function schedulerCommand(): Command {
  return new Command('scheduler')
    .description('create workflow runs as their schedules fire (with catchup), start queued runs, and requeue tasks whose worker died; run several, one acts (a Redis lease)')
    .action(async (_options: unknown, command: Command) => {
      const config = configFor(command);
      const workflows = await workflowsFor(config);
      await runUntilSignal('scheduler', config, async (logger, registry) => {
        const scheduler = await Scheduler.start({ config, workflows, logger, registry });
        say(`scheduler ${scheduler.instance}: ${[...workflows.workflows.keys()].join(', ') || 'no workflows'}`);
        return scheduler;
      });
    });
}


export function workerCommand(): Command {
  return new Command('worker')
    .description("run workflow tasks: any number of workers on any number of machines take ready tasks from the pools' queues")
    .option('--concurrency <n>', 'tasks run at once by this worker', wholeNumber('--concurrency'), 4)
    .option('--pools <names>', 'comma-separated pools whose tasks this worker takes (default: default and every pool in workflows.pools)')
    .action(async (options: { concurrency: number; pools?: string }, command: Command) => {
      const config = configFor(command);
      const workflows = await workflowsFor(config);
      const pools = options.pools?.split(',').map((pool) => pool.trim()).filter(Boolean);
      const known = ['default', ...Object.keys(config.workflows.pools)];
      const unknown = pools?.filter((pool) => !known.includes(pool)) ?? [];
      if (unknown.length > 0) {
        throw new BraidError(ErrorCode.BAD_ARGUMENT, `--pools: no pool ${unknown.join(', ')}`, { fields: { argument: '--pools' }, hint: `the pools: ${known.join(', ')} (workflows.pools in the config)` });
      }
      await runUntilSignal('worker', config, async (logger, registry) => {
        const worker = await WorkflowWorker.start({ config, workflows, logger, registry, concurrency: options.concurrency, ...(pools ? { pools } : {}) });
        say(`worker ${worker.id}: ${options.concurrency} at once, pools ${(pools ?? ['default', ...Object.keys(config.workflows.pools)]).join(', ')}`);
        return worker;
      });
    });
}
