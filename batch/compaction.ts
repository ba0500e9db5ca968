import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { sourceSettings, type Config } from '../shared/config/index.ts';
import type { Source } from '../shared/sources/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import { withLock } from './batch-lock.ts';
import { checkMasterSchema, mergedFieldsMetadata } from './master-schema.ts';
import { DAY_MS, FIELDS_METADATA_KEY, completeFiles, dayFolders, listMasterFiles, liveCompactions, newestEventByPartition, readCoverages, sourceRoot, type MasterFile } from './master-dataset.ts';
import { readParquet } from './read-parquet.ts';

export interface CompactionResult {
  /** The day folder, `YYYY-MM-DD`. */
  readonly folder: string;
  /** Parquet files merged (flush files and earlier compacted files). */
  readonly filesBefore: number;
  readonly compacted: string;
  /** Flush files the compacted file now holds. */
  readonly flushFiles: number;
  /** Whether the day is closed (then its folder ends as one file). */
  readonly dayClosed: boolean;
}

/** An open day's compacted files merge into one once there are this many. */
export const MAX_PARTS_PER_OPEN_DAY = 8;

/**
 * Merges the small files of the master dataset, atomically, one day folder at a time:
 * - a **closed day** (every archived partition is past its end by the source's out-of-orderness bound plus
 *   `graceMs`) ends as one file: everything in its folder merges;
 * - in an **open day**, the flush files whose events are all closed merge into a new compacted file, and once
 *   the day holds {@link MAX_PARTS_PER_OPEN_DAY} compacted files they merge into one.
 * So a live stream's folder never holds more than a few compacted files plus the last minutes' flush files, and a
 * replay of years of history ends as one file per day. Rows are written in event-time order, so row-group
 * statistics let readers skip what a time range leaves out. A late event in a closed day merges in at the next run.
 *
 * Each merge: 1. write `compacted-<id>.parquet` (readers ignore it: no coverage file yet); 2. rename
 * `compacted-<id>.coverage.json` into place, the switch; 3. delete what it replaced. A crash between any two steps
 * leaves every event readable exactly once; the next run finishes the clean-up.
 */
export async function compactMasterDataset(options: CompactOptions): Promise<CompactionResult[]> {
  return withLock(options.config, `compact:${options.source.name}`, () => compactUnderLock(options));
}

interface CompactOptions {
  config: Config;
  source: Source;
  graceMs?: number;
  nowEventTimeMs?: number;
}

async function compactUnderLock(options: CompactOptions): Promise<CompactionResult[]> {
  const { config, source } = options;
  const root = sourceRoot(config.dataDir, source.name);
  if (!existsSync(root)) return [];
  cleanUp(config, source);
  const { files } = listMasterFiles(config.dataDir, source.name);
  const complete = completeFiles(files);
  if (complete.length === 0) return [];
  const schema = await checkMasterSchema({ source, files: complete });

  // Closed: before the slowest partition's progress, as the file names' event times show it.
  const progress = options.nowEventTimeMs ?? Math.min(...newestEventByPartition(complete).values());
  const closedBefore = progress - sourceSettings(config, source.name).maxOutOfOrdernessMs - (options.graceMs ?? 3_600_000);

  const byFolder = new Map<string, MasterFile[]>();
  for (const file of complete) byFolder.set(file.folder, [...(byFolder.get(file.folder) ?? []), file]);
  const results: CompactionResult[] = [];
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const [folder, entries] of [...byFolder].sort(([a], [b]) => a.localeCompare(b))) {
      const dir = path.join(root, folder);
      const { merged, dayClosed } = planFolderCompaction(entries, closedBefore);
      const physical = [...new Set(merged.map((entry) => entry.path))];
      if (physical.length <= 1) continue;
      const id = nextId(dir);
      const parquet = path.join(dir, `compacted-${id}.parquet`);
      const temporary = `${parquet}.${randomBytes(4).toString('hex')}.tmp`;
      const metadata = sqlStringLiteral(mergedFieldsMetadata(schema, physical));
      await connection.run(
        `COPY (SELECT * FROM ${readParquet(physical)} ORDER BY ${sqlIdentifier(source.timeField)}) TO ${sqlStringLiteral(temporary)} ` +
          `(FORMAT parquet, COMPRESSION zstd, KV_METADATA {${sqlStringLiteral(FIELDS_METADATA_KEY)}: ${metadata}})`,
      );
      renameSync(temporary, parquet);
      const coverage = path.join(dir, `compacted-${id}.coverage.json`);
      const coverageTemporary = `${coverage}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(coverageTemporary, `${JSON.stringify({ files: merged.map((entry) => entry.name).sort() }, null, 2)}\n`);
      renameSync(coverageTemporary, coverage); // the switch
      for (const file of physical) removeWithCoverage(file);
      results.push({ folder, filesBefore: physical.length, compacted: parquet, flushFiles: merged.length, dayClosed });
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return results;
}

/**
 * What to merge in one day folder, given its complete flush files (`entries`; those a compaction holds have the
 * compacted file as their path) and the event time before which everything is closed.
 */
export function planFolderCompaction(entries: readonly MasterFile[], closedBefore: number): { merged: MasterFile[]; dayClosed: boolean } {
  if (entries.length === 0) return { merged: [], dayClosed: false };
  const compacted = entries.filter((entry) => path.basename(entry.path) !== entry.name);
  const plain = entries.filter((entry) => path.basename(entry.path) === entry.name);
  const parts = new Set(compacted.map((entry) => entry.path)).size;
  const dayClosed = entries[0]!.dayMs + DAY_MS <= closedBefore;
  if (dayClosed) return { merged: parts + plain.length > 1 ? [...entries] : [], dayClosed };
  const closedFlushFiles = plain.filter((entry) => entry.maxTimeMs < closedBefore);
  if (parts >= MAX_PARTS_PER_OPEN_DAY) return { merged: [...compacted, ...closedFlushFiles], dayClosed };
  return { merged: closedFlushFiles.length >= 2 ? closedFlushFiles : [], dayClosed };
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

/**
 * Finishes what an interrupted run left: stale temporaries, compacted files without coverage (or superseded by a
 * newer compaction), and flush files a live compaction holds.
 */
function cleanUp(config: Config, source: Source): void {
  for (const dir of dayFolders(sourceRoot(config.dataDir, source.name))) {
    const names = readdirSync(dir);
    const live = liveCompactions(readCoverages(dir, names));
    const liveIds = new Set(live.map((coverage) => String(coverage.id)));
    const held = new Set(live.flatMap((coverage) => coverage.files));
    for (const name of names) {
      const full = path.join(dir, name);
      const compacted = /^compacted-(\d+)\.(parquet|coverage\.json)$/.exec(name);
      if (/^compacted-.*\.tmp$/.test(name)) rmSync(full, { force: true });
      else if (compacted && !liveIds.has(compacted[1]!)) rmSync(full, { force: true });
      else if (held.has(name)) rmSync(full, { force: true });
    }
  }
}
