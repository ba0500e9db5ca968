import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Archiver, readBatchView, recomputeView } from '../../batch/index.ts';
import { createMetricsRegistry } from '../../shared/metrics/index.ts';
import { getSource } from '../../shared/sources/index.ts';
import { expectGoldenRows, sendScenarioMessages } from '../golden/run-through-speed.ts';
import { loadScenarios, SCENARIO_EPOCH_MS, SCENARIO_RANGE } from '../golden/scenarios.ts';
import { goldenViews } from '../golden/views.ts';
import { createTopic, tempDir, testConfig, testKafka, testLogger, uniqueName, waitFor } from '../harness/index.ts';

describe.each(loadScenarios())('golden scenario $name through the batch layer (archive → recompute)', (scenario) => {
  it('gives the expected rows for every view, too-late events included', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: `golden-batch-${scenario.name}`, partitions: scenario.partitions });
    using dir = tempDir('braid-golden-batch-');
    const config = testConfig({
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('golden-batch'),
      'sources.clickstream.topic': topic.topic,
      'sources.clickstream.partitions': scenario.partitions,
      'sources.clickstream.maxOutOfOrdernessMs': scenario.maxOutOfOrdernessMs,
      'archive.flushIntervalMs': 100,
    });
    await sendScenarioMessages(kafka, topic.topic, scenario.messages);
    const archiver = await Archiver.start({ config, source: getSource('clickstream'), logger: testLogger, registry: createMetricsRegistry('golden-batch') });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic.topic);
      await waitFor(
        async () => {
          const [committed] = await admin.fetchOffsets({ groupId: archiver.group, topics: [topic.topic] });
          return ends.every((end) => end.high === '0' || committed!.partitions.find((p) => p.partition === end.partition)?.offset === end.high);
        },
        { timeoutMs: 60_000, what: 'the archiver to commit the end of the topic' },
      );
    } finally {
      await admin.disconnect();
      await archiver.stop();
    }

    const expected = scenario.expected.batchViews ?? scenario.expected.views;
    for (const view of goldenViews) {
      const manifest = await recomputeView({ config, view, cutoffMs: SCENARIO_RANGE.toMs });
      expect(manifest.version).toBe(1);
      const { rows } = await readBatchView(config.dataDir, view, SCENARIO_RANGE);
      const actual = rows.map((row) => ({
        start: (row.windowStart - SCENARIO_EPOCH_MS) / 1000,
        end: (row.windowEnd - SCENARIO_EPOCH_MS) / 1000,
        ...row.dimensions,
        ...row.measures,
      }));
      const dimension = view.dimensions[0]!.name;
      expectGoldenRows(actual, expected[view.name]!, dimension, `${scenario.name}: ${view.name}`);
    }
  });
});
