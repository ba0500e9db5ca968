import { copyFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { compactClosedHours, filesToRead, listMasterFiles, partitionCoverage, readBatchView, recomputeView } from '../../batch/index.ts';
import type { Config } from '../../shared/config/index.ts';
import { getSource } from '../../shared/sources/index.ts';
import { pageViews } from '../../shared/views/index.ts';
import { archiveUntil, createTopic, produceClickstream, tempDir, testConfig, testKafka, uniqueName } from '../harness/index.ts';

const START_MS = Date.parse('2026-06-01T00:00:00Z');
const HOUR_MS = 3_600_000;

/** Every archived row's Kafka coordinates and event time, sorted: what a reader of the master dataset sees. */
async function readMaster(config: Config): Promise<string[]> {
  const files = filesToRead(listMasterFiles(config.dataDir, 'clickstream').files);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const rows = (
    await connection.runAndReadAll(`SELECT kafka_partition, kafka_offset, ts FROM read_parquet([${files.map((file) => `'${file.path}'`).join(', ')}])`)
  ).getRowObjectsJS();
  connection.closeSync();
  instance.closeSync();
  return rows.map((row) => `${row.kafka_partition}:${row.kafka_offset}:${row.ts}`).sort();
}


const parquetFilesIn = (folder: string) => readdirSync(folder).filter((name) => name.endsWith('.parquet'));

describe('compaction of the master dataset', () => {
  it('merges each closed hour into one file; readers, resume offsets and recompute see exactly the same data, also across a crash between steps', async () => {
    const kafka = testKafka();
    await using topic = await createTopic(kafka, { prefix: 'compact', partitions: 2 });
    using dir = tempDir('braid-compact-');
    const config = testConfig({
      dataDir: path.join(dir.path, 'data'),
      'kafka.clientId': uniqueName('compact'),
      'sources.clickstream.topic': topic.topic,
      'archive.maxRowsPerFile': 250,
      'archive.flushIntervalMs': 100,
    });
    const produce = (seed: number, count: number, lateFraction: number) =>
      produceClickstream(kafka, topic.topic, {
        partitions: 2,
        generator: { seed, disorderMs: 3_000, lateFraction, lateByMs: 2 * HOUR_MS, users: 300, urls: 50 },
        count,
        startMs: START_MS,
        spanMs: 4 * HOUR_MS,
      });
    await produce(1, 5_000, 0);
    await archiveUntil(config, kafka, topic.topic, 5_000);
    const source = getSource('clickstream');
    const before = await readMaster(config);
    const coverage = () => [0, 1].map((partition) => partitionCoverage(listMasterFiles(config.dataDir, 'clickstream').files, topic.topic, partition).resumeOffset);
    const resumeBefore = coverage();
    const viewBefore = await recomputeView({ config, view: pageViews, cutoffMs: START_MS + 6 * HOUR_MS });

    // Every hour is closed from "much later"'s point of view.
    const results = await compactClosedHours({ config, source, nowEventTimeMs: START_MS + 24 * HOUR_MS });
    expect(results.length).toBeGreaterThanOrEqual(4);
    for (const result of results) {
      expect(result.filesBefore).toBeGreaterThan(1);
      expect(parquetFilesIn(path.dirname(result.compacted))).toEqual([path.basename(result.compacted)]);
    }
    expect(await readMaster(config)).toEqual(before);
    expect(coverage()).toEqual(resumeBefore);
    const viewAfter = await recomputeView({ config, view: pageViews, cutoffMs: START_MS + 6 * HOUR_MS });
    const range = { fromMs: START_MS - HOUR_MS, toMs: START_MS + 6 * HOUR_MS };
    expect((await readBatchView(config.dataDir, pageViews, { ...range, version: viewAfter.version })).rows).toEqual(
      (await readBatchView(config.dataDir, pageViews, { ...range, version: viewBefore.version })).rows,
    );

    // Late events land in compacted hours as new small files; the next compaction merges them in (recompaction).
    await produce(2, 1_000, 0.5);
    await archiveUntil(config, kafka, topic.topic, 6_000);
    const withLate = await readMaster(config);
    expect(withLate.length).toBe(before.length + 1_000);
    const again = await compactClosedHours({ config, source, nowEventTimeMs: START_MS + 24 * HOUR_MS });
    expect(again.length).toBeGreaterThan(0);
    expect(await readMaster(config)).toEqual(withLate);

    // A crash after step 1 (a compacted file without its coverage file) changes nothing readers see, and the next run removes it.
    const hour = path.dirname(again[0]!.compacted);
    copyFileSync(again[0]!.compacted, path.join(hour, 'compacted-999.parquet'));
    expect(await readMaster(config)).toEqual(withLate);
    await compactClosedHours({ config, source, nowEventTimeMs: START_MS + 24 * HOUR_MS });
    expect(parquetFilesIn(hour)).toEqual([path.basename(again[0]!.compacted)]);
    expect(await readMaster(config)).toEqual(withLate);
  });
});
