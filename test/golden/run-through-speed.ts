import { expect } from 'vitest';
import { createProducer } from '../../shared/clients/index.ts';
import { QUANTILE_RELATIVE_ERROR, type QuantileEntry } from '../../shared/measures/index.ts';

import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { sourceSettings, type Config } from '../../shared/config/index.ts';
import { createMetricsRegistry, type Registry } from '../../shared/metrics/index.ts';
import { readSpeedView, SpeedWorker } from '../../speed/index.ts';
import { SpeedKeys } from '../../shared/speed-contract/index.ts';
import { testLogger, topicMessageCount, waitUntilSpeedCaughtUp } from '../harness/index.ts';
import { messageValue, SCENARIO_EPOCH_MS, SCENARIO_RANGE, type ExpectedRow, type Scenario, type ScenarioMessage } from './scenarios.ts';
import { goldenViews } from './views.ts';

/** Config for one scenario run: its topic, partitions, watermark settings and a fresh consumer group. */
export function scenarioOverrides(scenario: Scenario, topic: string, clientId: string): Record<string, unknown> {
  return {
    'kafka.clientId': clientId,
    'sources.clickstream.topic': topic,
    'sources.clickstream.partitions': scenario.partitions,
    'sources.clickstream.maxOutOfOrdernessMs': scenario.maxOutOfOrdernessMs,
    'sources.clickstream.idleTimeoutMs': scenario.idleTimeoutMs,
    'speed.flushIntervalMs': 100,
  };
}

export async function sendScenarioMessages(kafka: Kafka, topic: string, messages: ScenarioMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const producer = createProducer(kafka, { allowAutoTopicCreation: true });
  await producer.connect();
  await producer.send({
    topic,
    messages: messages.map((message) => ({ partition: message.p, key: 'user' in message ? message.user : null, value: messageValue(message) })),
  });
  await producer.disconnect();
}

export interface SpeedOutcome {
  rows: Record<string, ExpectedRow[]>;
  watermarkS: number | null;
  finalStarts: Record<string, number[]>;
}

/** Reads every golden view back through the speed layer's read API, in scenario units (seconds). */
export async function readGoldenViews(redis: Redis, config: Config): Promise<SpeedOutcome> {
  const settings = sourceSettings(config, 'clickstream');
  const target = { redis, keys: new SpeedKeys(config.redis.keyPrefix), maxOutOfOrdernessMs: settings.maxOutOfOrdernessMs, idleTimeoutMs: settings.idleTimeoutMs };
  const rows: Record<string, ExpectedRow[]> = {};
  const finalStarts: Record<string, number[]> = {};
  let watermarkS: number | null = null;
  for (const view of goldenViews) {
    const result = await readSpeedView(target, view, SCENARIO_RANGE);
    rows[view.name] = result.rows.map((row) => ({
      start: (row.windowStart - SCENARIO_EPOCH_MS) / 1000,
      end: (row.windowEnd - SCENARIO_EPOCH_MS) / 1000,
      ...row.dimensions,
      ...row.measures,
    }));
    finalStarts[view.name] = [...new Set(result.rows.filter((row) => row.final).map((row) => (row.windowStart - SCENARIO_EPOCH_MS) / 1000))];
    watermarkS = result.watermarkMs === null ? null : (result.watermarkMs - SCENARIO_EPOCH_MS) / 1000;
  }
  return { rows, watermarkS, finalStarts };
}

/**
 * Measures compared to their expected values with a tolerance: a stddev to float rounding (its state merges in
 * another order in each layer), quantiles within their stated relative error of the exact value of their rank.
 */
const TOLERANT: Record<string, (actual: unknown, expected: unknown) => boolean> = {
  spread: (actual, expected) =>
    actual === expected || (typeof actual === 'number' && typeof expected === 'number' && Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected))),
  revenue_q: (actual, expected) => {
    const [got, want] = [actual as QuantileEntry[], expected as QuantileEntry[]];
    return (
      Array.isArray(got) &&
      got.length === want.length &&
      got.every((entry, index) => entry.quantile === want[index]!.quantile && Math.abs(entry.value - want[index]!.value) <= QUANTILE_RELATIVE_ERROR * Math.abs(want[index]!.value))
    );
  },
};

/**
 * Asserts a view's rows are the expected ones: the same windows and groups, and for each, the values of the
 * measures the expected row names (a scenario leaves out measures it does not check); {@link TOLERANT} ones
 * within their tolerance.
 */
export function expectGoldenRows(actual: ExpectedRow[], expected: ExpectedRow[], dimension: string, label: string): void {
  const want = sortRows(expected, dimension);
  const got = sortRows(actual, dimension).map((row, index) => {
    const wanted = want[index];
    if (wanted === undefined) return row;
    return Object.fromEntries(
      Object.keys(wanted).map((key) => {
        const close = TOLERANT[key];
        return [key, close !== undefined && close(row[key], wanted[key]) ? wanted[key] : row[key]];
      }),
    );
  });
  expect(got, label).toEqual(want);
}

/** Sorts rows the way expected.json lists them: by window start, then dimension values. */
export function sortRows(rows: ExpectedRow[], dimension: string): ExpectedRow[] {
  return [...rows].sort((a, b) => a.start - b.start || String(a[dimension]).localeCompare(String(b[dimension])));
}

/**
 * Runs a scenario through a real speed worker (real Kafka, real Redis). With
 * `restartAfter`, the worker stops after that many messages and a new one
 * restores from Redis and finishes the stream.
 */
export async function runThroughSpeed(options: {
  scenario: Scenario;
  kafka: Kafka;
  redis: Redis;
  config: Config;
  topic: string;
  restartAfter?: number;
}): Promise<SpeedOutcome & { metrics: SpeedCounts }> {
  const { scenario, kafka, redis, config, topic } = options;
  const metrics: SpeedCounts = { eventsIn: 0, deadLettered: 0, viewEvents: {}, late: {} };
  const cut = options.restartAfter ?? scenario.messages.length;
  const parts = [scenario.messages.slice(0, cut), scenario.messages.slice(cut)].filter((part) => part.length > 0);
  for (const part of parts) {
    await sendScenarioMessages(kafka, topic, part);
    const registry = createMetricsRegistry('golden');
    const worker = await SpeedWorker.start({ config, views: goldenViews, logger: testLogger, registry });
    try {
      await waitUntilSpeedCaughtUp(kafka, redis, config, topic, goldenViews);
    } finally {
      await worker.stop();
    }
    await addCounts(metrics, registry);
  }
  return { ...(await readGoldenViews(redis, config)), metrics };
}

/** What the workers' counters said, summed over the run's workers (per view by view name). */
export interface SpeedCounts {
  eventsIn: number;
  deadLettered: number;
  viewEvents: Record<string, number>;
  late: Record<string, number>;
}

async function addCounts(into: SpeedCounts, registry: Registry): Promise<void> {
  const values = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values ?? [];
  for (const { value } of await values('braid_speed_events_in_total')) into.eventsIn += value;
  for (const { value } of await values('braid_speed_dead_lettered_total')) into.deadLettered += value;
  for (const { labels, value } of await values('braid_speed_view_events_total')) into.viewEvents[String(labels.view)] = (into.viewEvents[String(labels.view)] ?? 0) + value;
  for (const { labels, value } of await values('braid_speed_late_events_total')) into.late[String(labels.view)] = (into.late[String(labels.view)] ?? 0) + value;
}

export async function lateAndDeadLetterCounts(kafka: Kafka, topic: string): Promise<{ late: number; deadLetters: number }> {
  return { late: await topicMessageCount(kafka, `${topic}.late`), deadLetters: await topicMessageCount(kafka, `${topic}.dlq`) };
}
