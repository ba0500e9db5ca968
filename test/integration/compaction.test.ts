import { copyFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { compactMasterDataset, filesToRead, listMasterFiles, partitionCoverage, readBatchView, recomputeView } from '../../batch/index.ts';
import type { Config } from '../../shared/config/index.ts';
import { getSource } from '../../shared/sources/index.ts';
import { pageViews } from '../../shared/views/index.ts';
import { archiveUntil, createTopic, firstDifference, produceClickstream, tempDir, testConfig, testKafka, uniqueName } from '../harness/index.ts';

const START_MS = Date.parse('2026-06-01T00:00:00Z');
const HOUR_MS = 3_600_000;

/** Every archived row's Kafka coordinates and event time, sorted: what a reader of the master dataset sees. */
async function readMaster(config: Config): Promise<string[]> {
  const files = filesToRead(listMasterFiles(config.dataDir, 'clickstream').files);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const rows = (
    await connection.runAndReadAll(`SELECT _kafka_partition, _kafka_offset, ts FROM read_parquet([${files.map((file) => `'${file.path}'`).join(', ')}])`)
  ).getRowObjectsJS();
  connection.closeSync();
  instance.closeSync();
  return rows.map((row) => `${row._kafka_partition}:${row._kafka_offset}:${row.ts}`).sort();
}

const parquetFilesIn = (folder: string) => readdirSync(folder).filter((name) => name.endsWith('.parquet')).sort();

describe('compaction of the master dataset', () => {
  it('merges closed flush files of an open day into a part, a closed day into one file; readers, resume offsets and recompute see the same data, also across crashes between steps', async () => {
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
    const produce = (seed: number, count: number, lateFraction: number, startMs = START_MS, spanMs = 4 * HOUR_MS) =>
      produceClickstream(kafka, topic.topic, {
        partitions: 2,
        generator: { seed, disorderMs: 3_000, lateFraction, lateByMs: 2 * HOUR_MS, users: 300, urls: 50 },
        count,
        startMs,
        spanMs,
      });
    // An hour at a time, archived in between: two flush files (one per partition) an hour.
    for (let hour = 0; hour < 4; hour++) {
      await produce(1 + hour, 1_250, 0, START_MS + hour * HOUR_MS, HOUR_MS);
      await archiveUntil(config, kafka, topic.topic, 1_250 * (hour + 1));
    }
    const source = getSource('clickstream');
    const day = path.join(config.dataDir, 'master', 'clickstream', '2026-06-01');
    const flushFilesAtFirst = parquetFilesIn(day).length;
    expect(flushFilesAtFirst).toBeGreaterThanOrEqual(8);
    const before = await readMaster(config);
    const coverage = () => [0, 1].map((partition) => partitionCoverage(listMasterFiles(config.dataDir, 'clickstream').files, topic.topic, partition).resumeOffset);
    const resumeBefore = coverage();
    const viewBefore = await recomputeView({ config, view: pageViews, cutoffMs: START_MS + 6 * HOUR_MS });

    // Four hours in, with an hour's grace: the day is open, its first three hours closed.
    const open = await compactMasterDataset({ config, source, nowEventTimeMs: START_MS + 4 * HOUR_MS });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ folder: '2026-06-01', dayClosed: false });
    const closedFiles = listMasterFiles(config.dataDir, 'clickstream').files.filter((file) => file.path === open[0]!.compacted);
    expect(closedFiles.length).toBe(open[0]!.flushFiles);
    expect(Math.max(...closedFiles.map((file) => file.maxTimeMs))).toBeLessThan(START_MS + 3 * HOUR_MS);
    expect(parquetFilesIn(day).length).toBe(flushFilesAtFirst - open[0]!.flushFiles + 1);
    expect(await readMaster(config)).toEqual(before);
    expect(coverage()).toEqual(resumeBefore);
    const partOne = { parquet: open[0]!.compacted, coverage: open[0]!.compacted.replace(/\.parquet$/, '.coverage.json') };
    copyFileSync(partOne.parquet, path.join(dir.path, 'part-1.parquet'));
    copyFileSync(partOne.coverage, path.join(dir.path, 'part-1.coverage.json'));

    // A day later the day is closed: everything in its folder, the part included, becomes one file.
    const closed = await compactMasterDataset({ config, source, nowEventTimeMs: START_MS + 48 * HOUR_MS });
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ folder: '2026-06-01', dayClosed: true, flushFiles: flushFilesAtFirst });
    expect(parquetFilesIn(day)).toEqual([path.basename(closed[0]!.compacted)]);
    expect(await readMaster(config)).toEqual(before);
    expect(coverage()).toEqual(resumeBefore);
    const viewAfter = await recomputeView({ config, view: pageViews, cutoffMs: START_MS + 6 * HOUR_MS });
    const range = { fromMs: START_MS - HOUR_MS, toMs: START_MS + 6 * HOUR_MS };
    const rowsAfter = (await readBatchView(config.dataDir, pageViews, { ...range, version: viewAfter.version })).rows;
    const rowsBefore = (await readBatchView(config.dataDir, pageViews, { ...range, version: viewBefore.version })).rows;
    expect(firstDifference(pageViews.name, rowsAfter, rowsBefore)).toBe('');

    // A crash between the switch and the deletions leaves the superseded part behind: readers ignore it, the next run removes it.
    copyFileSync(path.join(dir.path, 'part-1.parquet'), partOne.parquet);
    copyFileSync(path.join(dir.path, 'part-1.coverage.json'), partOne.coverage);
    expect(await readMaster(config)).toEqual(before);
    expect(await compactMasterDataset({ config, source, nowEventTimeMs: START_MS + 48 * HOUR_MS })).toEqual([]);
    expect(parquetFilesIn(day)).toEqual([path.basename(closed[0]!.compacted)]);
    expect(readdirSync(day).filter((name) => name.endsWith('.coverage.json'))).toEqual([path.basename(closed[0]!.compacted).replace('.parquet', '.coverage.json')]);

    // Late events land in the closed day and the day before as new small files; the next run merges each day into one file again.
    await produce(9, 1_000, 0.5);
    await archiveUntil(config, kafka, topic.topic, 6_000);
    const withLate = await readMaster(config);
    expect(withLate.length).toBe(before.length + 1_000);
    const again = await compactMasterDataset({ config, source, nowEventTimeMs: START_MS + 48 * HOUR_MS });
    expect(again.map((result) => result.folder)).toEqual(['2026-05-31', '2026-06-01']);
    for (const result of again) expect(parquetFilesIn(path.dirname(result.compacted))).toEqual([path.basename(result.compacted)]);
    expect(await readMaster(config)).toEqual(withLate);

    // A crash after step 1 (a compacted file without its coverage file) changes nothing readers see, and the next run removes it.
    copyFileSync(again[1]!.compacted, path.join(day, 'compacted-999.parquet'));
    expect(await readMaster(config)).toEqual(withLate);
    await compactMasterDataset({ config, source, nowEventTimeMs: START_MS + 48 * HOUR_MS });
    expect(parquetFilesIn(day)).toEqual([path.basename(again[1]!.compacted)]);
    expect(await readMaster(config)).toEqual(withLate);
  });
});
