import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_PARTS_PER_OPEN_DAY, planFolderCompaction } from '../../batch/index.ts';
import { liveCompactions, masterFileName, parseMasterFile, type MasterFile } from '../../batch/master-dataset.ts';

const DAY = Date.parse('2026-06-01T00:00:00Z');
const HOUR_MS = 3_600_000;
const folder = '/data/master/orders/2026-06-01';

/** A flush file of the day, one per hour `hour`, held by the compacted file `part` when given. */
function flushFile(hour: number, partition = 0, part?: string): MasterFile {
  const name = masterFileName({ topic: 'orders', partition, firstOffset: hour * 100, lastOffset: hour * 100 + 99, minTimeMs: DAY + hour * HOUR_MS, maxTimeMs: DAY + hour * HOUR_MS + 59 * 60_000, index: 1, count: 1 });
  const parsed = parseMasterFile(path.join(folder, name))!;
  return part ? { ...parsed, path: path.join(folder, part) } : parsed;
}

describe('master file names', () => {
  it('carry the Kafka coordinates, the event-time range and the day', () => {
    const file = flushFile(5, 3);
    expect(file).toMatchObject({ topic: 'orders', partition: 3, firstOffset: 500, lastOffset: 599, minTimeMs: DAY + 5 * HOUR_MS, index: 1, count: 1, folder: '2026-06-01', dayMs: DAY });
    expect(parseMasterFile(path.join(folder, 'compacted-3.parquet'))).toBeUndefined();
  });
});

describe('planFolderCompaction', () => {
  it('leaves an open day alone until at least two flush files are closed, then merges exactly those', () => {
    const files = [flushFile(0), flushFile(1), flushFile(2), flushFile(3)];
    expect(planFolderCompaction(files, DAY + HOUR_MS).merged).toEqual([]);
    const { merged, dayClosed } = planFolderCompaction(files, DAY + 2 * HOUR_MS + 30 * 60_000);
    expect(dayClosed).toBe(false);
    expect(merged.map((file) => file.firstOffset)).toEqual([0, 100]);
  });

  it('merges an open day\'s compacted files once there are too many, with its closed flush files', () => {
    const parts = Array.from({ length: MAX_PARTS_PER_OPEN_DAY }, (_, index) => flushFile(index, 0, `compacted-${index + 1}.parquet`));
    const fewer = planFolderCompaction([...parts.slice(1), flushFile(10), flushFile(11), flushFile(20)], DAY + 12 * HOUR_MS);
    expect(fewer.merged.map((file) => file.firstOffset)).toEqual([1000, 1100]);
    const many = planFolderCompaction([...parts, flushFile(10), flushFile(20)], DAY + 12 * HOUR_MS);
    expect(many.merged.map((file) => file.firstOffset).sort((a, b) => a - b)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 1000]);
  });

  it('merges everything of a closed day, unless it is one file already', () => {
    const files = [flushFile(0, 0, 'compacted-1.parquet'), flushFile(1, 0, 'compacted-1.parquet'), flushFile(23, 1)];
    expect(planFolderCompaction(files, DAY + 25 * HOUR_MS)).toEqual({ merged: files, dayClosed: true });
    expect(planFolderCompaction(files.slice(0, 2), DAY + 25 * HOUR_MS).merged).toEqual([]);
  });
});

describe('liveCompactions', () => {
  it('drops a compaction a newer one holds whole, and refuses a partial overlap', () => {
    const one = { id: 1, parquet: 'compacted-1.parquet', files: ['a', 'b'] };
    const two = { id: 2, parquet: 'compacted-2.parquet', files: ['c'] };
    const three = { id: 3, parquet: 'compacted-3.parquet', files: ['a', 'b', 'd'] };
    expect(liveCompactions([one, two])).toEqual([two, one]);
    expect(liveCompactions([one, two, three])).toEqual([three, two]);
    expect(() => liveCompactions([one, { id: 4, parquet: 'compacted-4.parquet', files: ['b', 'e'] }])).toThrow(/overlap in part/);
  });
});
