import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import type { Source } from '../shared/sources/index.ts';
import { HOUR_MS, completeFiles, listMasterFiles, sourceRoot, type MasterFile } from './master-dataset.ts';
import { readParquet, sqlLiteral } from './sql.ts';


export interface CompactionResult {
  readonly folder: string;
  readonly filesBefore: number;
  readonly compacted: string;
  readonly flushFiles: number;
}

/**
 * Merges the small files of each closed hour into one file, atomically:
 *   1. write `compacted-<id>.parquet` (readers ignore it: no coverage file yet);
 *   2. rename `compacted-<id>.coverage.json` into place — the switch: from now
 *      on readers and the archiver read the compacted file instead of every
 *      flush file it lists (an earlier compacted file included);
 *   3. delete what it replaced.
 * A crash between any two steps leaves the hour readable exactly once; the
 * next run finishes the clean-up. An hour is closed once every archived
 * partition is past its end by the source's out-of-orderness bound plus
 * `graceMs`; a late event landing in a compacted hour is merged next time.
 */
export async function compactClosedHours(options: { config: Config; source: Source; graceMs?: number; nowEventTimeMs?: number }): Promise<CompactionResult[]> {
  const { config, source } = options;
  const root = sourceRoot(config.dataDir, source.name);
  if (!existsSync(root)) return [];
  cleanUp(config, source);
  const { files } = listMasterFiles(config.dataDir, source.name);
  const complete = completeFiles(files);
  if (complete.length === 0) return [];

  // Closed: before the slowest partition's progress, as the hours' names and offsets show it.
  const settings = sourceSettings(config, source.name);
  const newestByPartition = new Map<string, number>();
  for (const file of complete) {
    const key = `${file.topic}:${file.partition}`;
    newestByPartition.set(key, Math.max(newestByPartition.get(key) ?? -Infinity, file.hourMs + HOUR_MS));
  }
  const progress = options.nowEventTimeMs ?? Math.min(...newestByPartition.values());
  const closedBefore = progress - settings.maxOutOfOrdernessMs - (options.graceMs ?? HOUR_MS);

  const byFolder = new Map<string, MasterFile[]>();
  for (const file of complete) byFolder.set(file.folder, [...(byFolder.get(file.folder) ?? []), file]);
  const results: CompactionResult[] = [];
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const [folder, entries] of byFolder) {
      if (entries[0]!.hourMs + HOUR_MS > closedBefore) continue;
      const physical = [...new Set(entries.map((entry) => entry.path))];
      if (physical.length <= 1) continue;
      const dir = path.join(root, folder);
      const id = nextId(dir);
      const parquet = path.join(dir, `compacted-${id}.parquet`);
      const temporary = `${parquet}.${randomBytes(4).toString('hex')}.tmp`;
      await connection.run(
        `COPY (SELECT * FROM ${readParquet(physical)}) TO ${sqlLiteral(temporary)} (FORMAT parquet, COMPRESSION zstd)`,
      );
      renameSync(temporary, parquet);
      const coverage = path.join(dir, `compacted-${id}.coverage.json`);
      const coverageTemporary = `${coverage}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(coverageTemporary, `${JSON.stringify({ files: entries.map((entry) => entry.name).sort() }, null, 2)}\n`);
      renameSync(coverageTemporary, coverage); // the switch
      for (const file of physical) removeWithCoverage(file);
      results.push({ folder, filesBefore: physical.length, compacted: parquet, flushFiles: entries.length });
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return results;
}

function nextId(dir: string): number {
  const ids = readdirSync(dir)
    .map((name) => /^compacted-(\d+)\./.exec(name)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number);
  return Math.max(0, ...ids) + 1;
}

/** Removes a replaced file; a replaced compacted file takes its coverage file along. */
function removeWithCoverage(file: string): void {
  rmSync(file, { force: true });
  if (/compacted-\d+\.parquet$/.test(file)) rmSync(file.replace(/\.parquet$/, '.coverage.json'), { force: true });
}

/** Finishes what an interrupted run left: stale temporaries, compacted files without coverage, files a live coverage replaced. */
function cleanUp(config: Config, source: Source): void {
  const { compactions } = listMasterFiles(config.dataDir, source.name);
  const root = sourceRoot(config.dataDir, source.name);
  const walk = (dir: string) => {
    const names = readdirSync(dir, { withFileTypes: true });
    const live = compactions.find((compaction) => path.dirname(compaction.parquet) === dir);
    for (const entry of names) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/^compacted-.*\.tmp$/.test(entry.name)) rmSync(full, { force: true });
      else if (/^compacted-\d+\.parquet$/.test(entry.name) && full !== live?.parquet) removeWithCoverage(full);
      else if (live && live.files.includes(entry.name)) rmSync(full, { force: true });
    }
  };
  walk(root);
}
