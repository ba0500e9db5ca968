export { parseDurationMs, formatDurationMs, parseTimeMs } from './duration.ts';
