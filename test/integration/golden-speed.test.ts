import { describe, expect, it } from 'vitest';
import { loadScenarios, SCENARIO_EPOCH_MS } from '../golden/scenarios.ts';
import { expectGoldenRows, lateAndDeadLetterCounts, readGoldenViews, runThroughSpeed } from '../golden/run-through-speed.ts';
import { goldenViews } from '../golden/views.ts';
import { createTopic, deleteTopics, testConfig, testKafka, testRedis, uniqueName, waitFor, waitForMessages } from '../harness/index.ts';

const scenarios = loadScenarios();

describe.each(scenarios)('golden scenario $name through the speed layer', (scenario) => {
  it.each([
    ['straight through', undefined],
    ['with a restart part-way, restoring from Redis (two pipeline threads sharing the partitions)', Math.ceil(scenario.messages.length / 2)],
  ] as const)('%s', async (_label, restartAfter) => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: `golden-${scenario.name}`, partitions: scenario.partitions });
    await using redis = testRedis();
    const config = testConfig({
      'redis.keyPrefix': redis.prefix,
      'kafka.clientId': uniqueName('golden'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': scenario.partitions,
      'sources.clickstream.maxOutOfOrdernessMs': scenario.maxOutOfOrdernessMs,
      'sources.clickstream.idleTimeoutMs': scenario.idleTimeoutMs,
      'speed.flushIntervalMs': 100,
      'speed.pipelineThreads': restartAfter ? 2 : 1,
    });
    try {
      const outcome = await runThroughSpeed({ scenario, kafka, redis, config, topic: topic.topic, ...(restartAfter ? { restartAfter } : {}) });
      for (const view of goldenViews) {
        const dimension = view.dimensions[0]!.name;
        expectGoldenRows(outcome.rows[view.name]!, scenario.expected.views[view.name]!, dimension, `${scenario.name}: ${view.name}`);
      }

      const counts = await lateAndDeadLetterCounts(kafka, topic.topic);
      expect(counts.late).toBe(scenario.expected.late.length);
      expect(counts.deadLetters).toBe(scenario.expected.deadLetters.length);

      // The metrics say the same: every valid event is counted into each view (no filters here) or late for it,
      // and a message goes to .late once however many views it was late for.
      const valid = scenario.messages.length - scenario.expected.deadLetters.length;
      expect(outcome.metrics.eventsIn).toBe(valid);
      expect(outcome.metrics.deadLettered).toBe(scenario.expected.deadLetters.length);
      const latePerView = goldenViews.map((view) => outcome.metrics.late[view.name] ?? 0);
      for (const [index, view] of goldenViews.entries()) {
        expect((outcome.metrics.viewEvents[view.name] ?? 0) + latePerView[index]!, `${view.name}: counted + late`).toBe(valid);
      }
      expect(Math.max(...latePerView)).toBeLessThanOrEqual(scenario.expected.late.length);
      expect(latePerView.reduce((total, n) => total + n, 0)).toBeGreaterThanOrEqual(scenario.expected.late.length);
      if (scenario.expected.late.length > 0) {
        const late = await waitForMessages(kafka, `${topic.topic}.late`, scenario.expected.late.length);
        const got = late.map((m) => ({ t: (JSON.parse(m.value).ts - SCENARIO_EPOCH_MS) / 1000 })).sort((a, b) => a.t - b.t);
        expect(got).toEqual(scenario.expected.late.map(({ t }) => ({ t })).sort((a, b) => a.t - b.t));
      }
      if (scenario.expected.deadLetters.length > 0) {
        const dead = await waitForMessages(kafka, `${topic.topic}.dlq`, scenario.expected.deadLetters.length);
        scenario.expected.deadLetters.forEach((reason, index) => expect(dead[index]!.headers['braid-error']).toMatch(new RegExp(reason)));
      }

      if (scenario.expected.watermark !== undefined) {
        // Idle partitions stop holding the watermark back after the idle timeout.
        const settled = await waitFor(
          async () => {
            const read = await readGoldenViews(redis, config);
            return read.watermarkS === scenario.expected.watermark ? read : undefined;
          },
          { timeoutMs: scenario.idleTimeoutMs + 10_000, what: `watermark ${scenario.expected.watermark}` },
        );
        for (const [view, starts] of Object.entries(scenario.expected.final ?? {})) {
          expect(settled.finalStarts[view]!.sort((a, b) => a - b), `final windows of ${view}`).toEqual(starts);
        }
      }
    } finally {
      await deleteTopics(kafka, [`${topic.topic}.dlq`, `${topic.topic}.late`]);
    }
  });
});
