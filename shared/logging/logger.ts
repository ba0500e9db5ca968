import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * Braid's structured logger: one JSON object per line on stderr (stdout is
 * kept for a command's own output, e.g. `stack up`'s KAFKA_BROKERS= lines).
 *
 * @example
 * const log = createLogger({ level: config.log.level, name: 'speed' });
 * log.info({ topic, partition }, 'partition assigned');
 */
export function createLogger(options: { level: LevelWithSilent; name: string }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}
