import { Command, Option } from 'commander';
import { stackDown, stackUp } from '../../infra/stack/index.ts';
import { createKafkaClient } from '../../shared/clients/index.ts';
import { demoGenerator, produceDemo } from '../../shared/demo/index.ts';
import { createLogger } from '../../shared/logging/index.ts';
import { createMetricsRegistry, startMetricsServer, type Registry } from '../../shared/metrics/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { clickstream } from '../../shared/sources/index.ts';
import { SpeedWorker } from '../../speed/index.ts';
import { Archiver, compactMasterDataset, listMasterFiles, recomputeView } from '../../batch/index.ts';
import { fieldNameOf, sampleGraphQLQuery, startServer } from '../../serving/index.ts';
import { formatDurationMs, parseDurationMs } from '../../shared/time/index.ts';
import { sourceSettings } from '../../shared/config/index.ts';
import { loadWorkflows } from '../../workflows/index.ts';
import { configFor, say, catalogFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

interface DevFlags {
  generator: boolean;
  rate: number;
  port?: number;
  recomputeEvery: number;
}

/** Demo history produced on a first start, so the first recompute already owns most of the last hour. */
const BACKFILL_EVENTS = 30_000;
const BACKFILL_SPAN_MS = 60 * 60_000;
const STATUS_EVERY_MS = 5_000;

/**
 * `npm start`: the platform in one command: the local stack, a speed worker
 * for every view, the archiver, an incremental recompute of every view every
 * couple of minutes, the server (development mode: GraphiQL, anonymous reads)
 * and the demo clickstream generator, with a live status line. Ctrl-C stops
 * what it started, in order, flushing first.
 */
export function devCommand(): Command {
  return new Command('dev')
    .description('run the platform locally (what `npm start` runs): the stack, a speed worker, the archiver, periodic recompute, the server and the demo event stream, until Ctrl-C')
    .addOption(new Option('--no-generator', 'do not run the demo generator (bring your own events)'))
    .addOption(
      new Option('--rate <events/s>', 'demo events per second')
        .argParser((text) => {
          const value = Number(text);
          if (!Number.isInteger(value) || value < 1) throw new Error('--rate takes a whole number ≥ 1');
          return value;
        })
        .default(500),
    )
    .addOption(
      new Option('--recompute-every <duration>', 'how often every view is recomputed incrementally (the first run comes after 45 s, or sooner if this is shorter)')
        .argParser((text) => {
          const value = parseDurationMs(text);
          if (value === undefined || value < 1_000) throw new Error('--recompute-every takes a duration of at least 1s, e.g. 2m');
          return value;
        })
        .default(2 * 60_000, '2m'),
    )
    .addOption(
      new Option('--port <port>', 'server port (default: serving.port; 0 picks a free one)').argParser((text) => {
        const value = Number(text);
        if (!Number.isInteger(value) || value < 0 || value > 65_535) throw new Error('--port takes a port number (0–65535)');
        return value;
      }),
    )
    .action(async (flags: DevFlags, command: Command) => {
      const config = configFor(command);
      const catalog = await catalogFor(config);
      const workflows = await loadWorkflows(config, catalog);
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
      const logger = createLogger({ level: config.log.level, name: 'dev' });
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
        const batches = new Map<string, { version: number; cutoffMs: number }>();
        let recomputing = false;
        const recomputeAll = async () => {
          if (recomputing) return;
          recomputing = true;
          try {
            // Compaction first, so the recompute reads few files; one run at a time, as it must be.
            for (const source of sources) await compactMasterDataset({ config: devConfig, source });
            for (const view of views) {
              const manifest = await recomputeView({ config: devConfig, view, incremental: true });
              batches.set(view.name, { version: manifest.version, cutoffMs: manifest.cutoffMs });
              logger.info({ view: view.name, version: manifest.version, cutoff: new Date(manifest.cutoffMs).toISOString(), rows: manifest.rowCount, mode: manifest.mode }, 'published a batch version');
            }
          } catch (error) {
            logger.warn({ err: error }, 'recompute skipped');
          } finally {
            recomputing = false;
          }
        };
        const firstRecompute = setTimeout(() => void recomputeAll(), Math.min(45_000, flags.recomputeEvery));
        const recomputeTimer = setInterval(() => void recomputeAll(), flags.recomputeEvery);
        started.push({
          name: 'recompute timer',
          stop: async () => {
            clearTimeout(firstRecompute);
            clearInterval(recomputeTimer);
          },
        });
        say(`Compaction and recompute (every view, incrementally): first in ${formatDurationMs(Math.min(45_000, flags.recomputeEvery))}, then every ${formatDurationMs(flags.recomputeEvery)}`);
        const sampleView = catalog.views.views.get('page_views') ?? views[0];
        say(`\nGraphiQL  ${server.url}/graphql   (open in a browser)`);
        say(`REST      ${server.url}/v1/views${sampleView ? `   e.g. curl '${server.url}/v1/views/${sampleView.name}?from=now-90m&limit=5'` : ''}`);
        say(`Workflows ${server.url}/v1/workflows   (runs need npx braid scheduler and npx braid worker)`);
        say(`Metrics   ${server.url}/metrics (server, speed, archiver)   ${metrics.url}`);
        say(`Health    ${server.url}/healthz   ${server.url}/readyz`);
        if (sampleView) {
          say(`\nA query that spans the batch cutoff once the first recompute is in (about a minute), from the last 90 minutes:`);
          say(`curl -s ${server.url}/graphql -H 'content-type: application/json' -d '${JSON.stringify({ query: sampleGraphQLQuery(catalog.views, 'now-90m').replace(/\s+/g, ' ') })}'`);
          say(`(meta.layers shows BATCH and SPEED; ${fieldNameOf(sampleView.name)} rows before meta.batchCutoff come from the batch view)\n`);
        }

        let lastStatus = { atMs: Date.now(), events: await counterTotal(registry, 'braid_speed_events_in_total'), requests: await counterTotal(registry, 'braid_serving_requests_total') };
        const statusLine = async () => {
          const now = { atMs: Date.now(), events: await counterTotal(registry, 'braid_speed_events_in_total'), requests: await counterTotal(registry, 'braid_serving_requests_total') };
          const seconds = (now.atMs - lastStatus.atMs) / 1000;
          const watermark = sampleView ? worker.watermarks()[sampleView.source.name] : undefined;
          const batch = sampleView ? batches.get(sampleView.name) : undefined;
          say(
            `[dev] in ${Math.round((now.events - lastStatus.events) / seconds)} ev/s · watermark lag ${watermark === null || watermark === undefined ? '–' : `${((now.atMs - watermark) / 1000).toFixed(1)} s`}` +
              ` · batch ${batch ? `${sampleView!.name} v${batch.version} cutoff ${new Date(batch.cutoffMs).toISOString().slice(11, 19)}` : 'none yet'}` +
              ` · ${((now.requests - lastStatus.requests) / seconds).toFixed(1)} req/s`,
          );
          lastStatus = now;
        };
        const status = setInterval(() => void statusLine(), STATUS_EVERY_MS);
        started.push({ name: 'status line', stop: async () => clearInterval(status) });

        if (flags.generator) {
          const settings = sourceSettings(config, clickstream.name);
          const topic = settings.topic ?? clickstream.topic;
          const kafka = createKafkaClient({ brokers: stack.kafkaBrokers, clientId: `${config.kafka.clientId}-dev`, logger });
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
