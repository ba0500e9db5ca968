import { Command, InvalidArgumentError, Option } from 'commander';
import { stackDown, stackUp } from '../../infra/stack/index.ts';
import { createKafkaClient } from '../../shared/clients/index.ts';
import { demoGenerator, produceDemo } from '../../shared/demo/index.ts';
import { createMetricsRegistry, startMetricsServer, type Registry } from '../../shared/metrics/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { clickstream } from '../../shared/sources/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { Archiver, listMasterFiles } from '../../batch/index.ts';
import { fieldNameOf, sampleGraphQLQuery, startServer } from '../../serving/index.ts';
import { parseDurationMs } from '../../shared/time/index.ts';
import { sourceSettings, type Config } from '../../shared/config/index.ts';
import { RECOMPUTE_WORKFLOW, Scheduler, WorkflowWorker, type RunRecord } from '../../workflows/index.ts';
import { wholeNumber } from '../arguments.ts';
import { configFor, say, catalogFor, loggerFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';
import { workflowsFor } from './workflow-processes.ts';

interface DevFlags {
  generator: boolean;
  rate: number;
  port?: number;
  /** The recompute workflow's schedule, as cron. */
  recomputeEvery: string;
}

/** Demo history produced on a first start, so the first recompute already owns most of the last hour. */
const BACKFILL_EVENTS = 30_000;
const BACKFILL_SPAN_MS = 60 * 60_000;
const STATUS_EVERY_MS = 5_000;

/**
 * `npm start`: the platform in one command: the local stack, a speed worker
 * for every view, the archiver, a workflow scheduler and worker running Braid's
 * `recompute` workflow every minute (and the workflows of workflows.dir), the
 * server (development mode: GraphiQL, anonymous reads) and the demo clickstream
 * generator, with a live status line. Ctrl-C stops what it started, in order,
 * flushing first.
 */
export function devCommand(): Command {
  return new Command('dev')
    .description('run the platform locally (what `npm start` runs): the stack, a speed worker, the archiver, a workflow scheduler and worker (the recompute workflow, and yours), the server and the demo event stream, until Ctrl-C')
    .addOption(new Option('--no-generator', 'do not run the demo generator (bring your own events)'))
    .addOption(
      new Option('--rate <events/s>', 'demo events per second')
        .argParser(wholeNumber('--rate'))
        .default(500),
    )
    .addOption(
      new Option('--recompute-every <duration>', "the recompute workflow's interval: seconds or minutes that divide a minute or an hour (10s, 30s, 1m, 5m…)")
        .argParser((text) => {
          const cron = cronEvery(parseDurationMs(text));
          if (cron === undefined) throw new InvalidArgumentError('--recompute-every takes seconds or minutes that divide a minute or an hour, e.g. 30s or 5m');
          return cron;
        })
        .default(cronEvery(60_000), '1m'),
    )
    .addOption(
      new Option('--port <port>', 'server port (default: serving.port; 0 picks a free one)').argParser(wholeNumber('--port', 0, 65_535)),
    )
    .action(async (flags: DevFlags, command: Command) => {
      const config = configFor(command);
      const catalog = await catalogFor(config);
      // Loaded before anything starts, so a broken workflow module stops here, named.
      const workflows = await workflowsFor(recomputeEvery(config, flags.recomputeEvery));
      const views = [...catalog.views.views.values()];
      const sources = catalog.sourcesNamed(undefined);
      const demo = catalog.sources.has(clickstream.name);
      if (flags.generator && !demo) {
        throw new BraidError(ErrorCode.BAD_ARGUMENT, 'the demo generator needs the demo clickstream source, and views.includeDemo is off', {
          hint: 'run with --no-generator and produce your own events (npx braid produce <source> --file …)',
        });
      }
      const stack = await stackUp(config, say);
      say(`KAFKA_BROKERS=${stack.kafkaBrokers.join(',')}\nREDIS_URL=${stack.redisUrl}`);
      const logger = loggerFor(config, 'dev');
      const registry = createMetricsRegistry('dev');
      // What has started, stopped in reverse order on Ctrl-C or when a later start fails.
      const started: Array<{ name: string; stop: () => Promise<void> }> = [];
      const stopAll = async () => {
        for (const { name, stop } of started.reverse()) {
          await stop().catch((error: unknown) => logger.error({ err: error }, `stopping the ${name} failed`));
        }
        const ours = (['kafka', 'redis'] as const).filter((name) => stack[name] === 'started');
        if (ours.length > 0) await stackDown(config, say, ours);
      };

      const abort = new AbortController();
      const removeSignalHandler = onShutdownSignal((signal) => {
        say(`\n${signal}: stopping (flushing what was generated)…`);
        abort.abort();
      });
      try {
        const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
        started.push({ name: 'metrics server', stop: () => metrics.close() });
        say(`Metrics: ${metrics.url}`);
        const devConfig = {
          ...config,
          kafka: { ...config.kafka, brokers: stack.kafkaBrokers },
          redis: { ...config.redis, url: stack.redisUrl },
          serving: { ...config.serving, development: true, ...(flags.port === undefined ? {} : { port: flags.port }) },
        };
        const worker = await SpeedWorker.start({ config: devConfig, views, logger, registry, allViewsOfSource: (source) => catalog.views.forSource(source) });
        started.push({ name: 'speed worker', stop: () => worker.stop() });
        say(`Speed worker: ${views.map((view) => view.name).join(', ')} → Redis ${stack.redisUrl}`);
        for (const source of sources) {
          const archiver = await Archiver.start({ config: devConfig, source, logger, registry, views: catalog.views.forSource(source.name) });
          started.push({ name: `${source.name} archiver`, stop: () => archiver.stop() });
        }
        say(`Archiver: ${sources.map((source) => source.name).join(', ')} → ${devConfig.dataDir}/master (Parquet)`);
        const server = await startServer({ config: devConfig, views: catalog.views, workflows, logger, registry });
        started.push({ name: 'server', stop: () => server.close() });
        // Braid's recompute, and the user's workflows, on the scheduler: one worker and one scheduler in this process.
        const workflowConfig = recomputeEvery(devConfig, flags.recomputeEvery);
        const workflowWorker = await WorkflowWorker.start({ config: workflowConfig, workflows, logger, registry, concurrency: 4 });
        started.push({ name: 'workflow worker', stop: () => workflowWorker.stop() });
        const scheduler = await Scheduler.start({ config: workflowConfig, workflows, logger, registry });
        started.push({ name: 'workflow scheduler', stop: () => scheduler.stop() });
        say(`Workflows: ${[...workflows.workflows.keys()].join(', ') || 'none'} (recompute: ${flags.recomputeEvery}); npx braid dags lists them, npx braid dag runs ${RECOMPUTE_WORKFLOW} shows its runs`);
        const sampleView = catalog.views.views.get('page_views') ?? views[0];
        say(`\nConsole   ${server.url}/   (views, sources and workflows, live; open in a browser)`);
        say(`GraphiQL  ${server.url}/graphql`);
        say(`REST      ${server.url}/v1/views${sampleView ? `   e.g. curl '${server.url}/v1/views/${sampleView.name}?from=now-90m&limit=5'` : ''}`);
        say(`Workflows ${server.url}/v1/workflows   npx braid dags`);
        say(`Metrics   ${server.url}/metrics (server, speed, archiver)   ${metrics.url}`);
        say(`Health    ${server.url}/healthz   ${server.url}/readyz`);
        if (sampleView) {
          say(`\nA query that spans the batch cutoff once the first recompute run is in (about a minute), from the last 90 minutes:`);
          say(`curl -s ${server.url}/graphql -H 'content-type: application/json' -d '${JSON.stringify({ query: sampleGraphQLQuery(catalog.views, 'now-90m').replace(/\s+/g, ' ') })}'`);
          say(`(meta.layers shows BATCH and SPEED; ${fieldNameOf(sampleView.name)} rows before meta.batchCutoff come from the batch view)\n`);
        }

        let lastStatus = { atMs: Date.now(), events: await counterTotal(registry, 'braid_speed_events_in_total'), requests: await counterTotal(registry, 'braid_serving_requests_total') };
        const statusLine = async () => {
          const now = { atMs: Date.now(), events: await counterTotal(registry, 'braid_speed_events_in_total'), requests: await counterTotal(registry, 'braid_serving_requests_total') };
          const seconds = (now.atMs - lastStatus.atMs) / 1000;
          const watermark = sampleView ? worker.watermarks()[sampleView.source.name] : undefined;
          const recompute = workflows.workflows.has(RECOMPUTE_WORKFLOW) ? await lastRecompute(scheduler, sampleView?.name) : undefined;
          say(
            `[dev] in ${Math.round((now.events - lastStatus.events) / seconds)} ev/s · watermark lag ${watermark === null || watermark === undefined ? '–' : `${((now.atMs - watermark) / 1000).toFixed(1)} s`}` +
              ` · recompute ${recompute ?? 'no run yet'}` +
              ` · ${((now.requests - lastStatus.requests) / seconds).toFixed(1)} req/s`,
          );
          lastStatus = now;
        };
        const status = setInterval(() => void statusLine().catch((error: unknown) => logger.warn({ err: error }, 'status line skipped')), STATUS_EVERY_MS);
        started.push({ name: 'status line', stop: async () => clearInterval(status) });

        if (flags.generator) {
          const settings = sourceSettings(config, clickstream.name);
          const topic = settings.topic ?? clickstream.topic;
          const kafka = createKafkaClient({ ...devConfig.kafka, clientId: `${config.kafka.clientId}-dev`, logger });
          const generatorOptions = { seed: Date.now() % 1_000_000, disorderMs: 5_000, lateFraction: 0.005, badFraction: 0.001 };
          if (listMasterFiles(devConfig.dataDir, clickstream.name).files.length === 0) {
            say(`First start: backfilling ${BACKFILL_EVENTS} events over the last hour, so the batch layer has history to own…`);
            await produceDemo({
              kafka,
              logger,
              // produceDemo registers its counters; the live stream below registers them in `registry`.
              registry: createMetricsRegistry('dev-backfill'),
              source: clickstream.name,
              topic,
              partitions: settings.partitions,
              generator: demoGenerator(clickstream.name, { ...generatorOptions, lateFraction: 0 }),
              ratePerS: Infinity,
              count: BACKFILL_EVENTS,
              startMs: Date.now() - BACKFILL_SPAN_MS,
              spanMs: BACKFILL_SPAN_MS,
              signal: abort.signal,
            });
          }
          say(`Streaming demo clickstream events to ${topic} at ${flags.rate}/s (5 s disorder, 0.5% late, 0.1% bad). Ctrl-C stops.`);
          await produceDemo({
            kafka,
            logger,
            registry,
            source: clickstream.name,
            topic,
            partitions: settings.partitions,
            generator: demoGenerator(clickstream.name, generatorOptions),
            ratePerS: flags.rate,
            signal: abort.signal,
          });
        } else {
          say(`No generator (--no-generator): produce your own events to ${sources.map((source) => sourceSettings(config, source.name).topic ?? source.topic).join(', ')}. Ctrl-C stops.`);
          if (!abort.signal.aborted) await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        }
      } finally {
        removeSignalHandler();
        await stopAll();
        say('Stopped.');
      }
    });
}

/** The sum of a counter over its labels in `registry` (0 when it is not registered yet). */
async function counterTotal(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((sum, sample) => sum + sample.value, 0);
}

/** A cron expression firing every `everyMs`, for durations that divide a minute (seconds) or an hour (minutes). */
function cronEvery(everyMs: number | undefined): string | undefined {
  if (everyMs === undefined || everyMs % 1_000 !== 0) return undefined;
  const seconds = everyMs / 1_000;
  if (seconds < 60) return 60 % seconds === 0 ? `*/${seconds} * * * * *` : undefined;
  const minutes = seconds / 60;
  if (!Number.isInteger(minutes)) return undefined;
  if (minutes === 60) return '0 * * * *';
  return 60 % minutes === 0 ? (minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`) : undefined;
}

/** The status line's word on the recompute workflow: its last finished run, and the version it published of `view`. */
async function lastRecompute(scheduler: Scheduler, view: string | undefined): Promise<string | undefined> {
  const runs = await scheduler.store.listRuns(RECOMPUTE_WORKFLOW, { limit: 50 });
  const last = runs.find((run) => run.state === 'success' || run.state === 'failed');
  if (!last) return runs.length > 0 ? `${runs[0]!.id} ${runs[0]!.state}` : undefined;
  const ago = Math.round((Date.now() - (last.endedAtMs ?? Date.now())) / 1000);
  return `${last.id.slice(RECOMPUTE_WORKFLOW.length + 1)} ${last.state} ${ago}s ago${published(last, view)}`;
}

function published(run: RunRecord, view: string | undefined): string {
  const result = run.tasks.find((task) => task.id === `recompute_${view}`)?.result as { version?: number; cutoff?: string } | null | undefined;
  return result?.version === undefined ? '' : ` (${view} v${result.version} cutoff ${result.cutoff?.slice(11, 19)})`;
}

/** The config with the recompute workflow's schedule set. */
function recomputeEvery(config: Config, schedule: string): Config {
  return { ...config, workflows: { ...config.workflows, recompute: { ...config.workflows.recompute, schedule } } };
}
