import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_PARTS_PER_OPEN_DAY, planFolderCompaction } from '../../batch/index.ts';
import { dayFolder, listDayFolders, listMasterFiles, liveCompactions, masterFileName, parseMasterFile, type MasterFile } from '../../batch/master-dataset.ts';
import { tempDir } from '../harness/index.ts';

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

describe('listDayFolders', () => {
  it('lists the flush files of the days asked for, complete or not, compacted ones by name, as listMasterFiles does', () => {
    using dir = tempDir('braid-day-folders-');
    const write = (dayMs: number, name: string, text = '') => {
      mkdirSync(dayFolder(dir.path, 'orders', dayMs), { recursive: true });
      writeFileSync(path.join(dayFolder(dir.path, 'orders', dayMs), name), text);
    };
    const name = (dayMs: number, firstOffset: number, index: number, count: number) =>
      masterFileName({ topic: 'orders', partition: 1, firstOffset, lastOffset: firstOffset + 99, minTimeMs: dayMs, maxTimeMs: dayMs + 1, index, count });
    const next = DAY + 86_400_000;
    write(DAY, name(DAY, 0, 1, 2));
    write(next, name(next, 0, 2, 2));
    // A flush whose second file a crash never renamed, and a compaction holding another flush's file.
    write(next, name(next, 100, 1, 2));
    write(next, `${name(next, 200, 1, 1)}.1a2b3c4d.tmp`);
    write(next, 'compacted-1.parquet');
    write(next, 'compacted-1.coverage.json', JSON.stringify({ files: [name(next, 300, 1, 1)] }));
    write(DAY + 2 * 86_400_000, name(DAY + 2 * 86_400_000, 400, 1, 1));

    const listed = listDayFolders(dir.path, 'orders', [next, DAY + 5 * 86_400_000]);
    expect(listed.map((file) => [file.firstOffset, path.basename(file.path)]).sort()).toEqual([
      [0, name(next, 0, 2, 2)],
      [100, name(next, 100, 1, 2)],
      [300, 'compacted-1.parquet'],
    ]);
    const all = listMasterFiles(dir.path, 'orders').files;
    expect(listed.every((file) => all.some((other) => other.path === file.path && other.name === file.name))).toBe(true);
  });
});
