export { createLogger, LOG_FORMATS, resolveLogFormat, type CreateLoggerOptions, type Logger, type LogFormat, type LogStream } from './logger.ts';
