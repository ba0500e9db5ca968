import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

/** How log lines are written: `json` (one object per line), `pretty` (human lines), or `auto` (pretty on a terminal). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The stream logs go to, as far as choosing a format needs to know it (a `tty.WriteStream` on a terminal). */
export interface LogStream {
  readonly isTTY?: boolean;
  hasColors?(): boolean;
}

/**
 * The format `auto` stands for on `stream`: pretty on a terminal (a person reads it), JSON otherwise (a pipe, a
 * file, a container's log collector).
 */
export function resolveLogFormat(format: LogFormat, stream: LogStream = process.stderr): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return stream.isTTY === true ? 'pretty' : 'json';
}

export interface CreateLoggerOptions {
  level: LevelWithSilent;
  /** The process or part that logs (`speed`, `serve`, `dev`…), on every line. */
  name: string;
  /** Default `auto`: pretty when stderr is a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Where lines go. Default: stderr, written synchronously. */
  destination?: DestinationStream & LogStream;
}

/**
 * Braid's structured logger, on stderr (stdout is kept for a command's own output, e.g. `stack up`'s
 * KAFKA_BROKERS= lines): one JSON object per line, or human lines (`[12:00:01.250] INFO (speed): partitions
 * assigned {"partitions":[0,1]}`) when the format is pretty.
 *
 * @example
 * const log = createLogger({ level: config.log.level, format: config.log.format, name: 'speed' });
 * log.info({ topic, partition }, 'partition assigned');
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  const facts: LogStream = options.destination ?? process.stderr;
  const format = resolveLogFormat(options.format ?? 'auto', facts);
  return pino(
    {
      name: options.name,
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    format === 'pretty' ? prettyStream(destination, facts) : destination,
  );
}

/**
 * Turns each JSON line into a human line as it is written, in the caller's turn: a pretty line lands between the
 * lines a command writes itself (`braid dev`'s status lines) in the order they happened, whole.
 */
function prettyStream(destination: DestinationStream, facts: LogStream): DestinationStream {
  const prettify = prettyFactory({
    // hasColors() honours NO_COLOR, FORCE_COLOR and TERM=dumb.
    colorize: facts.isTTY === true && facts.hasColors?.() === true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return {
    write(line: string) {
      destination.write(prettify(line));
    },
  };
}
