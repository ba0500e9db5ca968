import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { createKafkaClient } from '../../shared/clients/index.ts';
import { demoGenerator, demoGeneratorNames, produceDemo, type DemoProgress } from '../../shared/demo/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { REPLAY_FILE_FORMATS, type ReplayFileFormat } from '../../shared/replay/index.ts';
import { sourceSettings } from '../../shared/config/index.ts';
import { duration, instant, wholeNumber } from '../arguments.ts';
import { catalogFor, configFor, say, loggerFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';
import { produceFile } from './produce-file.ts';

interface ProduceFlags {
  rate: number;
  count?: number;
  duration?: number;
  seed: number;
  disorder: number;
  lateFraction: number;
  lateBy: number;
  badFraction: number;
  start?: number;
  span?: number;
  tee?: string;
  topic?: string;
  progress: boolean;
  file?: string;
  fileFormat?: ReplayFileFormat;
  dryRun: boolean;
}

const fraction = (flag: string) => (text: string) => {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new InvalidArgumentError(`${flag} takes a number from 0 to 1, e.g. 0.01`);
  return value;
};
const rate = (text: string) => (text === 'max' ? Infinity : wholeNumber('--rate', 1)(text));
const time = instant('--start');

export function produceCommand(): Command {
  return new Command('produce')
    .description('produce a source\'s demo events, or replay a file of its events, to its Kafka topic (creating the topic if needed)')
    .argument('<source>', `source to produce to (demo events: ${demoGeneratorNames().join(', ')}; with --file: any source)`)
    .option('--file <path>', 'replay this file of the source\'s events instead of demo events: .ndjson/.jsonl/.json, .csv or .parquet')
    .addOption(new Option('--file-format <format>', 'the --file\'s format when its extension does not say').choices(REPLAY_FILE_FORMATS))
    .option('--dry-run', 'with --file: validate the whole file and print counts, sending nothing', false)
    .option('--rate <events/s>', 'events (or file rows) per second, or "max"', rate, 5_000)
    .option('--count <n>', 'stop after n messages or file rows (bad ones included)', wholeNumber('--count', 1))
    .option('--duration <time>', 'stop after this long, e.g. 30s (without --count or --duration: until Ctrl-C)', duration('--duration'))
    .option('--seed <n>', 'demo: random seed: the same seed gives the same events', wholeNumber('--seed', 0), 1)
    .addOption(new Option('--disorder <time>', 'demo: event times out of order by up to this much').argParser(duration('--disorder')).default(0, 'none'))
    .option('--late-fraction <f>', 'demo: fraction of events far behind the watermark', fraction('--late-fraction'), 0)
    .addOption(
      new Option('--late-by <time>', 'demo: how far behind late events are (between 1x and 2x this)').argParser(duration('--late-by')).default(30 * 60_000, '30m'),
    )
    .option('--bad-fraction <f>', 'demo: fraction of malformed or schema-invalid messages', fraction('--bad-fraction'), 0)
    .option('--start <time>', 'demo event-time mode: event times start here instead of following the clock (needs --span)', time)
    .option('--span <time>', 'demo event-time mode: spread event times evenly over this much event time, e.g. 24h', duration('--span'))
    .option('--tee <file>', 'demo: also write every produced message (bad ones included), one per line, to this file')
    .option('--topic <topic>', 'topic to write to (default: the source\'s topic from config)')
    .addOption(new Option('--no-progress', 'no live progress line'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npx braid produce clickstream --rate 5000 --duration 30s --disorder 5s --late-fraction 0.01 --bad-fraction 0.001\n' +
        '  npx braid produce clickstream --count 10000 --seed 1 --tee /tmp/e.jsonl\n' +
        '  npx braid produce clickstream --rate max --count 1000000 --start 2026-01-01T00:00:00Z --span 3d\n' +
        '  npx braid produce clickstream --file events.parquet --rate max\n' +
        '  npx braid produce clickstream --file events.csv --dry-run',
    )
    .action(async (sourceName: string, flags: ProduceFlags, command: Command) => {
      const config = configFor(command);
      const source = (await catalogFor(config)).source(sourceName);
      if (flags.file !== undefined) {
        await produceFile({ config, source, file: flags.file, flags, flagSource: (key) => command.getOptionValueSource(key) });
        return;
      }
      if (flags.dryRun || flags.fileFormat !== undefined) {
        throw new BraidError(ErrorCode.BAD_ARGUMENT, `${flags.dryRun ? '--dry-run' : '--file-format'} goes with --file`);
      }
      if ((flags.start === undefined) !== (flags.span === undefined)) {
        throw new BraidError(ErrorCode.BAD_ARGUMENT, '--start and --span go together: event times spread from --start over --span');
      }
      let count = flags.count;
      if (flags.start !== undefined && count === undefined) {
        if (flags.duration === undefined || !Number.isFinite(flags.rate)) {
          throw new BraidError(ErrorCode.BAD_ARGUMENT, 'event-time mode (--start/--span) needs --count, or --rate with --duration, to spread event times evenly');
        }
        count = Math.round((flags.rate * flags.duration) / 1000);
      }
      if (flags.lateFraction + flags.badFraction > 1) {
        throw new BraidError(ErrorCode.BAD_ARGUMENT, '--late-fraction plus --bad-fraction must not exceed 1');
      }

      const settings = sourceSettings(config, source.name);
      const topic = flags.topic ?? settings.topic ?? source.topic;
      const logger = loggerFor(config, 'produce');
      const registry = createMetricsRegistry('produce');
      const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
      logger.info({ metrics: metrics.url, topic, brokers: config.kafka.brokers }, 'producing demo events');

      const abort = new AbortController();
      const removeSignalHandler = onShutdownSignal((signal) => {
        say(`\n${signal}: stopping; sending what was generated…`);
        abort.abort();
      });
      const total = count ?? (flags.duration !== undefined && Number.isFinite(flags.rate) ? Math.round((flags.rate * flags.duration) / 1000) : 0);
      const bar = flags.progress
        ? new SingleBar({
            format: `produce ${source.name} → ${topic} |{bar}| {value}/{total} | {rate} ev/s | late {late} | bad {bad} | errors {errors} | {elapsed}s`,
            noTTYOutput: true,
            notTTYSchedule: 2_000,
            stream: process.stderr,
            hideCursor: true,
          })
        : undefined;
      const payload = (p: DemoProgress) => ({
        rate: Math.round(p.ratePerS),
        late: p.byKind.late,
        bad: p.byKind.bad,
        errors: p.errors,
        elapsed: (p.elapsedMs / 1000).toFixed(1),
      });
      bar?.start(total, 0, payload({ sent: 0, byKind: { ok: 0, late: 0, bad: 0 }, errors: 0, elapsedMs: 0, ratePerS: 0 }));

      const kafka = createKafkaClient({ ...config.kafka, clientId: `${config.kafka.clientId}-produce`, logger });
      try {
        const result = await produceDemo({
          kafka,
          logger,
          registry,
          source: source.name,
          topic,
          partitions: settings.partitions,
          generator: demoGenerator(source.name, {
            seed: flags.seed,
            disorderMs: flags.disorder,
            lateFraction: flags.lateFraction,
            lateByMs: flags.lateBy,
            badFraction: flags.badFraction,
          }),
          ratePerS: flags.rate,
          ...(count === undefined ? {} : { count }),
          ...(flags.duration === undefined ? {} : { durationMs: flags.duration }),
          ...(flags.start === undefined ? {} : { startMs: flags.start, spanMs: flags.span! }),
          ...(flags.tee === undefined ? {} : { teeFile: flags.tee }),
          signal: abort.signal,
          onProgress: (p) => {
            if (bar && total === 0) bar.setTotal(p.sent);
            bar?.update(p.sent, payload(p));
          },
        });
        bar?.stop();
        say(
          `Produced ${result.sent} messages to ${topic} in ${(result.elapsedMs / 1000).toFixed(1)} s ` +
            `(${Math.round(result.ratePerS)} ev/s): ${result.byKind.ok} on time, ${result.byKind.late} late, ${result.byKind.bad} bad` +
            (flags.tee ? `; teed to ${flags.tee}` : ''),
        );
      } catch (error) {
        bar?.stop();
        throw error;
      } finally {
        removeSignalHandler();
        await metrics.close();
      }
    });
}
