import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Event time zero of every scenario. */
export const SCENARIO_EPOCH_MS = Date.parse('2026-01-01T00:00:00Z');

/**
 * The event-time range every window of every scenario lies in: from the New
 * York day that holds the epoch to past the spring DST change (day 66). Views
 * are read over it, and the batch layer's cutoff is its end.
 */
export const SCENARIO_RANGE = { fromMs: SCENARIO_EPOCH_MS - 2 * 86_400_000, toMs: SCENARIO_EPOCH_MS + 90 * 86_400_000 } as const;

/** One input message: a valid event (`t` in seconds after the epoch) or raw bytes. */
export type ScenarioMessage =
  | { p: number; t: number; user: string; url: string; country: string; revenue?: number | null }
  | { p: number; raw: string };

export interface ExpectedRow {
  /** Window start and end, seconds after the epoch. */
  start: number;
  end: number;
  [dimensionOrMeasure: string]: unknown;
}

export interface Scenario {
  name: string;
  description: string;
  partitions: number;
  maxOutOfOrdernessMs: number;
  idleTimeoutMs: number;
  messages: ScenarioMessage[];
  expected: {
    views: Record<string, ExpectedRow[]>;
    /** Messages expected on <topic>.late, with the views each was late for. */
    late: Array<{ t: number; views: string[] }>;
    /** Reasons (regular expressions) of the messages expected on <topic>.dlq, in order. */
    deadLetters: string[];
    /** Expected speed watermark (seconds), once idle partitions stop holding it back. */
    watermark?: number;
    /** Window starts (seconds) per view expected to be final. */
    final?: Record<string, number[]>;
    /** Where the batch layer differs (it also counts events too late for the speed layer); default: `views`. */
    batchViews?: Record<string, ExpectedRow[]>;
  };
}

const DIR = path.dirname(fileURLToPath(import.meta.url));

/** Every folder under test/golden with a scenario.json and expected.json. */
export function loadScenarios(): Scenario[] {
  return readdirSync(DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const folder = path.join(DIR, entry.name);
      const scenario = JSON.parse(readFileSync(path.join(folder, 'scenario.json'), 'utf8')) as Omit<Scenario, 'name' | 'expected'>;
      const expected = JSON.parse(readFileSync(path.join(folder, 'expected.json'), 'utf8')) as Scenario['expected'];
      return { name: entry.name, ...scenario, expected };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The Kafka message value of a scenario message. */
export function messageValue(message: ScenarioMessage): string {
  if ('raw' in message) return message.raw;
  return JSON.stringify({
    ts: SCENARIO_EPOCH_MS + Math.round(message.t * 1000),
    user_id: message.user,
    session_id: `${message.user}-s`,
    url: message.url,
    country: message.country,
    device: 'desktop',
    revenue: message.revenue ?? null,
  });
}
