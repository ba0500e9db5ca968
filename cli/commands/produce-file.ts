import type { OptionValueSource } from 'commander';
import { SingleBar } from 'cli-progress';
import { createKafkaClient } from '../../shared/clients/index.ts';
import { sourceSettings, type Config } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { createMetricsRegistry, startMetricsServer } from '../../shared/metrics/index.ts';
import { produceMessages, type ProduceProgress } from '../../shared/produce/index.ts';
import {
  checkReplayFile,
  openReplayFile,
  REPLAY_KINDS,
  replayMessages,
  replayReportLines,
  ReplayTally,
  type ReplayFile,
  type ReplayFileFormat,
  type ReplayKind,
} from '../../shared/replay/index.ts';
import type { Source } from '../../shared/sources/index.ts';
import { say, loggerFor } from '../context.ts';
import { onShutdownSignal } from '../shutdown.ts';

/** Flags of `produce` that shape generated events, keyed by commander's option key. A file brings its own events. */
const DEMO_ONLY_FLAGS: ReadonlyArray<readonly [key: string, flag: string]> = [
  ['seed', '--seed'],
  ['disorder', '--disorder'],
  ['lateFraction', '--late-fraction'],
  ['lateBy', '--late-by'],
  ['badFraction', '--bad-fraction'],
  ['start', '--start'],
  ['span', '--span'],
  ['tee', '--tee'],
];

export interface ProduceFileFlags {
  rate: number;
  count?: number;
  duration?: number;
  topic?: string;
  progress: boolean;
  fileFormat?: ReplayFileFormat;
  dryRun: boolean;
}

export interface ProduceFileOptions {
  config: Config;
  source: Source;
  file: string;
  flags: ProduceFileFlags;
  /** Where a flag's value came from (commander's `getOptionValueSource`), to refuse demo-only flags given with --file. */
  flagSource: (key: string) => OptionValueSource | undefined;
}

const plural = (count: number, one: string, many = `${one}s`) => `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;

/** Says, once per name, which file columns the source lacks (NDJSON learns them while reading, so this runs again at the end). */
function ignoredColumnsReporter(replay: ReplayFile, source: Source): () => void {
  const said = new Set<string>();
  return () => {
    const fresh = replay.ignoredColumns().filter((name) => !said.has(name));
    if (fresh.length === 0) return;
    for (const name of fresh) said.add(name);
    say(`${replay.file}: ignoring ${fresh.length === 1 ? 'column' : 'columns'} that source ${source.name} lacks: ${fresh.join(', ')}`);
  };
}

/**
 * `produce <source> --file <path>`: replays a file of the source's events
 * into its topic (valid rows) and `<topic>.dlq` (bad rows), or with
 * `--dry-run` only validates it and prints the counts.
 */
export async function produceFile(options: ProduceFileOptions): Promise<void> {
  const { config, source, file, flags } = options;
  const demoOnly = DEMO_ONLY_FLAGS.filter(([key]) => {
    const origin = options.flagSource(key);
    return origin !== undefined && origin !== 'default';
  }).map(([, flag]) => flag);
  if (demoOnly.length > 0) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `${demoOnly.join(', ')} ${demoOnly.length === 1 ? 'is' : 'are'} for demo events only; --file replays the file's own events`, {
      fields: { flags: demoOnly },
      hint: `drop ${demoOnly.join(', ')}, or drop --file to produce demo events`,
    });
  }

  const replay = await openReplayFile({ file, source, ...(flags.fileFormat === undefined ? {} : { format: flags.fileFormat }) });
  try {
    const reportIgnored = ignoredColumnsReporter(replay, source);
    reportIgnored();
    if (replay.absentFields.length > 0) {
      say(`${file}: no column for nullable ${replay.absentFields.length === 1 ? 'field' : 'fields'} ${replay.absentFields.join(', ')}: null in every event`);
    }
    const abort = new AbortController();
    const removeSignalHandler = onShutdownSignal((signal) => {
      say(`\n${signal}: stopping; ${flags.dryRun ? 'counting' : 'sending'} what was read…`);
      abort.abort();
    });
    try {
      if (flags.dryRun) {
        const tally = await checkReplayFile(replay, { ...(flags.count === undefined ? {} : { count: flags.count }), signal: abort.signal });
        reportIgnored();
        const lines = [
          `${file} (${replay.format}): ${plural(tally.read, 'row')} read, ${tally.valid.toLocaleString('en-US')} valid, ${tally.bad.toLocaleString('en-US')} bad (dry run: nothing sent)`,
          ...replayReportLines(tally),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return;
      }
      await sendFile({ ...options, replay, signal: abort.signal });
      reportIgnored();
    } finally {
      removeSignalHandler();
    }
  } finally {
    replay.close();
  }
}

async function sendFile(options: ProduceFileOptions & { replay: ReplayFile; signal: AbortSignal }): Promise<void> {
  const { config, source, file, flags, replay } = options;
  const settings = sourceSettings(config, source.name);
  const topic = flags.topic ?? settings.topic ?? source.topic;
  const dlqTopic = `${topic}.dlq`;
  const logger = loggerFor(config, 'produce');
  const registry = createMetricsRegistry('produce');
  const metrics = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port });
  logger.info({ metrics: metrics.url, file, topic, dlqTopic, brokers: config.kafka.brokers }, 'replaying a file');

  const total = flags.count !== undefined ? Math.min(flags.count, replay.totalRows ?? Infinity) : (replay.totalRows ?? 0);
  const bar = flags.progress
    ? new SingleBar({
        format: `replay ${file} → ${topic} |{bar}| {value}/{total} | {rate} rows/s | bad {bad} | errors {errors} | {elapsed}s`,
        noTTYOutput: true,
        notTTYSchedule: 2_000,
        stream: process.stderr,
        hideCursor: true,
      })
    : undefined;
  const payload = (p: ProduceProgress<ReplayKind>) => ({
    rate: Math.round(p.ratePerS),
    bad: p.byKind.bad,
    errors: p.errors,
    elapsed: (p.elapsedMs / 1000).toFixed(1),
  });
  bar?.start(total, 0, payload({ sent: 0, byKind: { valid: 0, bad: 0 }, errors: 0, elapsedMs: 0, ratePerS: 0 }));

  const tally = new ReplayTally();
  const kafka = createKafkaClient({ ...config.kafka, clientId: `${config.kafka.clientId}-produce`, logger });
  try {
    const result = await produceMessages({
      kafka,
      logger,
      registry,
      source: source.name,
      topic,
      extraTopics: [dlqTopic],
      partitions: settings.partitions,
      messages: replayMessages(replay.rows(), { source, dlqTopic, file, tally }),
      kinds: REPLAY_KINDS,
      metricsPrefix: 'braid_replay',
      ratePerS: flags.rate,
      ...(flags.count === undefined ? {} : { count: flags.count }),
      ...(flags.duration === undefined ? {} : { durationMs: flags.duration }),
      signal: options.signal,
      onProgress: (p) => {
        if (bar && total === 0) bar.setTotal(p.sent);
        bar?.update(p.sent, payload(p));
      },
    });
    bar?.stop();
    say(
      [
        `Replayed ${plural(result.sent, 'row')} of ${file} in ${(result.elapsedMs / 1000).toFixed(1)} s (${Math.round(result.ratePerS)} rows/s): ` +
          `${result.byKind.valid.toLocaleString('en-US')} valid to ${topic}, ${result.byKind.bad.toLocaleString('en-US')} bad to ${dlqTopic}`,
        ...replayReportLines(tally),
      ].join('\n'),
    );
  } catch (error) {
    bar?.stop();
    throw error;
  } finally {
    await metrics.close();
  }
}
