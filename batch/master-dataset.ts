import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { FieldSpec, Source } from '../shared/sources/index.ts';

/**
 * The immutable master dataset: every valid event of a source, as Parquet, in one folder per event-time day (UTC):
 *
 *   <dataDir>/master/<source>/<YYYY-MM-DD>/<topic>-p<P>-o<first>-<last>-t<minMs>-<maxMs>-<i>of<n>.parquet
 *
 * One archiver flush of one Kafka partition covers offsets [first, last] and writes one file per event-time day it
 * touched: n files, numbered i of n, each named with the event-time range [minMs, maxMs] of its rows. The names
 * alone say which flushes are complete (all n files present) and what time they cover, so the archiver's resume
 * offset, a reader's file list and an incremental recompute's plan all come from the folder listing. Files appear
 * only by rename from a `.tmp` name, never half-written.
 *
 * Braid's own columns are the Kafka coordinates of each event, `_kafka_partition` and `_kafka_offset`. Source
 * fields start with a letter, so no field can take their names; and day folders are not hive-style (`key=value`),
 * so no reader adds a column of its own for them. A source may have fields named `date`, `hour`, `kafka_offset`…
 *
 * Compaction replaces complete flush files of a day with `compacted-<id>.parquet` plus
 * `compacted-<id>.coverage.json`, which lists every flush file it holds. The coverage file is the switch: readers
 * and the archiver take its entries in place of the files it names (from the moment it appears, by rename, they
 * ignore those files even if they still exist), and a compacted file whose coverage file is missing is ignored. A
 * compaction that merges earlier compacted files lists all their flush files, so it supersedes them. An event is
 * never read twice nor missing, whichever step a crash interrupts.
 */

export const DAY_MS = 86_400_000;

/** Columns the archive adds to the source's fields: where each event was in Kafka. */
export const ARCHIVE_COLUMNS = { _kafka_partition: 'INTEGER', _kafka_offset: 'BIGINT' } as const;
export const PARTITION_COLUMN = '_kafka_partition';
export const OFFSET_COLUMN = '_kafka_offset';

/** Key of the Parquet footer metadata holding the source's field specs the file was written with. */
export const FIELDS_METADATA_KEY = 'braid.fields';

const FILE_NAME = /^(.+)-p(\d+)-o(\d+)-(\d+)-t(\d+)-(\d+)-(\d+)of(\d+)\.parquet$/;
const DAY_FOLDER = /^\d{4}-\d{2}-\d{2}$/;
const COMPACTED = /^compacted-(\d+)\.coverage\.json$/;

export interface MasterFile {
  /** The Parquet file holding this flush file's rows (a compacted file, once compacted). */
  readonly path: string;
  /** The flush file's own name (also after compaction), e.g. `orders-p2-o1500-2999-t1767225600000-1767229199000-2of3.parquet`. */
  readonly name: string;
  /** Its day folder, relative to the source root: `YYYY-MM-DD`. */
  readonly folder: string;
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  /** Event-time range of its rows, epoch ms, both ends included. */
  readonly minTimeMs: number;
  readonly maxTimeMs: number;
  readonly index: number;
  readonly count: number;
  /** Start (epoch ms, UTC) of the day of its folder. */
  readonly dayMs: number;
}

export function sourceRoot(dataDir: string, source: string): string {
  return path.join(dataDir, 'master', source);
}

/** Start of the UTC day containing `timeMs`. */
export function dayOf(timeMs: number): number {
  return Math.floor(timeMs / DAY_MS) * DAY_MS;
}

/** Folder of the UTC day starting at `dayMs`. */
export function dayFolder(dataDir: string, source: string, dayMs: number): string {
  return path.join(sourceRoot(dataDir, source), new Date(dayMs).toISOString().slice(0, 10));
}

export function masterFileName(file: {
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
  minTimeMs: number;
  maxTimeMs: number;
  index: number;
  count: number;
}): string {
  return `${file.topic}-p${file.partition}-o${file.firstOffset}-${file.lastOffset}-t${file.minTimeMs}-${file.maxTimeMs}-${file.index}of${file.count}.parquet`;
}

export function parseMasterFile(file: string): MasterFile | undefined {
  const match = FILE_NAME.exec(path.basename(file));
  if (!match) return undefined;
  const folder = path.basename(path.dirname(file));
  return {
    path: file,
    name: path.basename(file),
    folder,
    topic: match[1]!,
    partition: Number(match[2]),
    firstOffset: Number(match[3]),
    lastOffset: Number(match[4]),
    minTimeMs: Number(match[5]),
    maxTimeMs: Number(match[6]),
    index: Number(match[7]),
    count: Number(match[8]),
    dayMs: DAY_FOLDER.test(folder) ? Date.parse(`${folder}T00:00:00Z`) : Number.NaN,
  };
}

export interface CompactionCoverage {
  /** Id: a higher one may supersede lower ones (when it lists all their flush files). */
  readonly id: number;
  readonly parquet: string;
  /** The flush files (by name) whose rows the compacted file holds. */
  readonly files: string[];
}

/**
 * The live compactions of one folder: newest first, a compaction whose flush files a newer one already holds is
 * superseded (its rows are in the newer file). A compaction always takes earlier ones whole, so any other overlap
 * means the folder was changed by hand.
 */
export function liveCompactions(coverages: readonly CompactionCoverage[]): CompactionCoverage[] {
  const claimed = new Set<string>();
  const live: CompactionCoverage[] = [];
  for (const coverage of [...coverages].sort((a, b) => b.id - a.id)) {
    const held = coverage.files.filter((file) => claimed.has(file)).length;
    if (held === coverage.files.length) continue;
    if (held > 0) {
      throw new BraidError(ErrorCode.INTERNAL, `${coverage.parquet}: compacted files overlap in part; the folder was changed outside Braid`, {
        fields: { file: coverage.parquet },
      });
    }
    for (const file of coverage.files) claimed.add(file);
    live.push(coverage);
  }
  return live;
}

/**
 * The compactions recorded in a day folder (its `compacted-<id>.coverage.json` files), live or superseded. A
 * coverage file that vanishes while it is read was removed by a compaction that superseded it, and is left out.
 */
export function readCoverages(dir: string, names: readonly string[] = readdirSync(dir)): CompactionCoverage[] {
  const coverages: CompactionCoverage[] = [];
  for (const name of names) {
    const match = COMPACTED.exec(name);
    if (!match) continue;
    let text: string;
    try {
      text = readFileSync(path.join(dir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const { files } = JSON.parse(text) as { files: string[] };
    coverages.push({ id: Number(match[1]), parquet: path.join(dir, `compacted-${match[1]}.parquet`), files });
  }
  return coverages;
}

/** The day folders of a source's root (`YYYY-MM-DD`); anything else there is not read. */
export function dayFolders(root: string): string[] {
  if (!existsSync(root)) return [];
  const folders = readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  const older = folders.find((entry) => /^date=\d{4}-\d{2}-\d{2}$/.test(entry.name));
  if (older) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `${root} holds the master dataset in hour folders (${older.name}/hour=…), a layout Braid does not read`, {
      fields: { file: root },
      hint: `move ${root} away and run \`npx braid archive\`: the archiver writes the source's topic again from what Kafka still holds`,
    });
  }
  return folders.filter((entry) => DAY_FOLDER.test(entry.name)).map((entry) => path.join(root, entry.name));
}

/**
 * Every flush file under a source's root, as the physical file or as an entry of the compaction that holds it,
 * plus `.tmp` leftovers (separately).
 */
export function listMasterFiles(dataDir: string, source: string): { files: MasterFile[]; temporary: string[] } {
  const files: MasterFile[] = [];
  const temporary: string[] = [];
  for (const dir of dayFolders(sourceRoot(dataDir, source))) readDayFolder(dir, files, temporary);
  return { files, temporary };
}

/** One day folder's flush files (as {@link listMasterFiles} gives them) and `.tmp` leftovers, added to the lists given. */
function readDayFolder(dir: string, files: MasterFile[], temporary: string[]): void {
  const plain: MasterFile[] = [];
  const names: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    names.push(entry.name);
    const full = path.join(dir, entry.name);
    if (entry.name.endsWith('.tmp')) temporary.push(full);
    else {
      const parsed = parseMasterFile(full);
      if (parsed) plain.push(parsed);
    }
  }
  const live = liveCompactions(readCoverages(dir, names));
  const held = new Set(live.flatMap((coverage) => coverage.files));
  for (const file of plain) if (!held.has(file.name)) files.push(file);
  for (const coverage of live) {
    for (const name of coverage.files) {
      const parsed = parseMasterFile(path.join(dir, name));
      if (parsed) files.push({ ...parsed, path: coverage.parquet });
    }
  }
}

/**
 * The flush files of some day folders only (those that exist), complete or not: where a flush of events of those
 * days would have to be, whichever archiver wrote it. Cheaper than {@link listMasterFiles} by the number of days
 * the dataset holds.
 */
export function listDayFolders(dataDir: string, source: string, days: Iterable<number>): MasterFile[] {
  const files: MasterFile[] = [];
  for (const dayMs of days) {
    const dir = dayFolder(dataDir, source, dayMs);
    if (existsSync(dir)) readDayFolder(dir, files, []);
  }
  return files;
}

/** How far each Kafka partition has been archived: the latest event time of its files, by partition. */
export function newestEventByPartition(files: readonly MasterFile[]): Map<number, number> {
  const newest = new Map<number, number>();
  for (const file of files) newest.set(file.partition, Math.max(newest.get(file.partition) ?? -Infinity, file.maxTimeMs));
  return newest;
}

export interface PartitionCoverage {
  /** First offset not yet archived (max last offset of complete flushes + 1), or null when nothing is. */
  readonly resumeOffset: number | null;
  /** Files of flushes that did not finish (fewer than n of their files exist). */
  readonly incomplete: MasterFile[];
}

/** What is on disk for one topic-partition: where to resume, and what a crash left half-renamed. */
export function partitionCoverage(files: readonly MasterFile[], topic: string, partition: number): PartitionCoverage {
  const flushes = new Map<string, MasterFile[]>();
  for (const file of files) {
    if (file.topic !== topic || file.partition !== partition) continue;
    const key = `${file.firstOffset}-${file.lastOffset}`;
    flushes.set(key, [...(flushes.get(key) ?? []), file]);
  }
  let resume: number | null = null;
  const incomplete: MasterFile[] = [];
  for (const group of flushes.values()) {
    const complete = new Set(group.map((file) => file.index)).size === group[0]!.count;
    if (complete) resume = Math.max(resume ?? 0, group[0]!.lastOffset + 1);
    // Only a flush's own files can be unfinished: compaction takes complete flushes only.
    else incomplete.push(...group.filter((file) => path.basename(file.path) === file.name));
  }
  return { resumeOffset: resume, incomplete };
}

/** The files of complete flushes only: what readers (recompute) may read. */
export function completeFiles(files: readonly MasterFile[]): MasterFile[] {
  const groups = new Map<string, MasterFile[]>();
  for (const file of files) {
    const key = `${file.topic}|${file.partition}|${file.firstOffset}|${file.lastOffset}`;
    groups.set(key, [...(groups.get(key) ?? []), file]);
  }
  return [...groups.values()].filter((group) => new Set(group.map((f) => f.index)).size === group[0]!.count).flat();
}

/** The distinct Parquet files to read for the complete flushes (a compacted file once, however many flushes it holds). */
export function filesToRead(files: readonly MasterFile[]): MasterFile[] {
  const seen = new Set<string>();
  return completeFiles(files).filter((file) => (seen.has(file.path) ? false : (seen.add(file.path), true)));
}

export function removeFiles(files: ReadonlyArray<{ path: string } | string>): void {
  for (const file of files) rmSync(typeof file === 'string' ? file : file.path, { force: true });
}

/** DuckDB column type of a source field. */
export function duckDbType(spec: FieldSpec): string {
  switch (spec.type) {
    case 'string':
      return 'VARCHAR';
    case 'int':
    case 'timestampMs':
      return 'BIGINT';
    case 'float':
      return 'DOUBLE';
    case 'bool':
      return 'BOOLEAN';
  }
}

/** `CREATE TABLE` column list for a source's archive: its fields plus the Kafka coordinates. */
export function archiveColumns(source: Source): Array<{ name: string; type: string; nullable: boolean; spec?: FieldSpec }> {
  return [
    ...Object.entries(source.fields).map(([name, spec]) => ({ name, type: duckDbType(spec), nullable: spec.nullable === true, spec })),
    ...Object.entries(ARCHIVE_COLUMNS).map(([name, type]) => ({ name, type, nullable: false })),
  ];
}

/** The field specs a file's footer records: what {@link FIELDS_METADATA_KEY} holds, as the archiver writes it. */
export function fieldsMetadata(source: Source): string {
  return JSON.stringify(Object.fromEntries(Object.entries(source.fields).map(([name, spec]) => [name, { type: spec.type, nullable: spec.nullable === true }])));
}
