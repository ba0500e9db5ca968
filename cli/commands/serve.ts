import { Command } from 'commander';
import { startServer } from '../../serving/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { loadWorkflows } from '../../workflows/index.ts';
import { configFor, say, catalogFor, loggerFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve every view over GraphQL (/graphql) and REST (/v1/views/:view), braiding the batch and speed layers at the batch cutoff, and the workflows (/v1/workflows)')
    .option('--port <port>', 'port to listen on (default: serving.port; 0 picks a free port)')
    .option('--dev', 'development mode: GraphiQL, and anonymous access unless serving.auth.anonymous is false')
    .action(async (options: { port?: string; dev?: boolean }, command: Command) => {
      const overrides: Record<string, unknown> = {};
      if (options.port !== undefined) overrides['serving.port'] = Number(options.port);
      if (options.dev) overrides['serving.development'] = true;
      const config = configFor(command, overrides);
      const catalog = await catalogFor(config);
      const { views } = catalog;
      const workflows = await loadWorkflows(config, catalog);
      const logger = loggerFor(config, 'serve');
      const registry = createMetricsRegistry('serve');
      // Metrics on metrics.port as every process has them; on the serving port only for the admin role (or development mode).
      const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
      const server = await startServer({ config, views, workflows, logger, registry }).catch(async (error: unknown) => {
        await metrics.close();
        throw error;
      });
      logger.info({ url: server.url, views: [...views.views.keys()], workflows: [...workflows.workflows.keys()] }, 'serving');
      say(`serving ${views.views.size} views on ${server.url}`);
      say(`  console  ${server.url}/`);
      say(`  GraphQL  ${server.url}/graphql${config.serving.development ? ' (GraphiQL in a browser)' : ''}`);
      say(`  REST     ${server.url}/v1/views   ${server.url}/v1/workflows (${workflows.workflows.size} workflows; the admin role triggers)`);
      say(`  metrics  ${metrics.url}   health ${server.url}/healthz   ready ${server.url}/readyz`);
      await new Promise<void>((resolve) => {
        const remove = onShutdownSignal((signal) => {
          say(`${signal}: finishing requests in flight…`);
          remove();
          resolve();
        });
      });
      await server.close();
      await metrics.close();
      say('server stopped cleanly');
    });
}
