import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { FieldSpec, Source } from '../shared/sources/index.ts';

/**
 * The immutable master dataset: every valid event of a source, as Parquet,
 * partitioned by event time in hive style so DuckDB prunes by folder:
 *
 *   <dataDir>/master/<source>/date=YYYY-MM-DD/hour=HH/<topic>-p<P>-o<first>-<last>-<i>of<n>.parquet
 *
 * One archiver flush of one Kafka partition covers offsets [first, last] and
 * writes one file per event-time hour it touched: n files, numbered i of n.
 * The names alone say which flushes are complete (all n files present), so
 * the archiver's resume offset and a reader's file list both come from disk.
 * Files appear only by rename from a `.tmp` name, never half-written.
 *
 * Compaction replaces an hour's files with `compacted-<id>.parquet` plus
 * `compacted-<id>.coverage.json`, which lists every flush file it replaces.
 * The coverage file is the switch: readers and the archiver take its entries
 * in place of the files it names (from the moment it appears, by rename, they
 * ignore those files even if they still exist), and a compacted file whose
 * coverage file is missing is ignored. So an hour is never read twice nor
 * missing, whichever step a crash interrupts.
 */

/** Length of one event-time partition (folder) of the master dataset. */
export const HOUR_MS = 3_600_000;

/** Columns the archive adds to the source's fields. */
export const ARCHIVE_COLUMNS = { kafka_partition: 'INTEGER', kafka_offset: 'BIGINT' } as const;

const FILE_NAME = /^(.+)-p(\d+)-o(\d+)-(\d+)-(\d+)of(\d+)\.parquet$/;

export interface MasterFile {
  /** The Parquet file holding this flush file's rows (a compacted file, once compacted). */
  readonly path: string;
  /** The flush file's own name (also after compaction), e.g. `clickstream-p2-o1500-2999-2of3.parquet`. */
  readonly name: string;
  /** Its hour folder, relative to the source root: `date=…/hour=…`. */
  readonly folder: string;
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly index: number;
  readonly count: number;
  /** Hour (epoch ms) of the folder the file is in. */
  readonly hourMs: number;
}

export function sourceRoot(dataDir: string, source: string): string {
  return path.join(dataDir, 'master', source);
}

/** Folder of the hour containing `eventTimeMs` (UTC). */
export function hourFolder(dataDir: string, source: string, hourMs: number): string {
  const iso = new Date(hourMs).toISOString();
  return path.join(sourceRoot(dataDir, source), `date=${iso.slice(0, 10)}`, `hour=${iso.slice(11, 13)}`);
}

export function masterFileName(topic: string, partition: number, firstOffset: number, lastOffset: number, index: number, count: number): string {
  return `${topic}-p${partition}-o${firstOffset}-${lastOffset}-${index}of${count}.parquet`;
}

export function parseMasterFile(file: string): MasterFile | undefined {
  const match = FILE_NAME.exec(path.basename(file));
  if (!match) return undefined;
  const folder = /date=(\d{4}-\d{2}-\d{2})[/\\]hour=(\d{2})/.exec(file);
  return {
    path: file,
    name: path.basename(file),
    folder: folder ? `date=${folder[1]}/hour=${folder[2]}` : '',
    topic: match[1]!,
    partition: Number(match[2]),
    firstOffset: Number(match[3]),
    lastOffset: Number(match[4]),
    index: Number(match[5]),
    count: Number(match[6]),
    hourMs: folder ? Date.parse(`${folder[1]}T${folder[2]}:00:00Z`) : Number.NaN,
  };
}

export interface CompactionCoverage {
  /** Id: higher supersedes lower (a recompaction includes what the earlier one covered). */
  readonly id: number;
  readonly parquet: string;
  /** The flush files (by name) whose rows the compacted file holds. */
  readonly files: string[];
}

const COMPACTED = /^compacted-(\d+)\.coverage\.json$/;

/**
 * Every flush file under a source's root — as the physical file, or as an
 * entry of the compaction that replaced it — plus `.tmp` leftovers (separately)
 * and the live compacted files.
 */
export function listMasterFiles(dataDir: string, source: string): { files: MasterFile[]; temporary: string[]; compactions: CompactionCoverage[] } {
  const root = sourceRoot(dataDir, source);
  const files: MasterFile[] = [];
  const temporary: string[] = [];
  const compactions: CompactionCoverage[] = [];
  if (!existsSync(root)) return { files, temporary, compactions };
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true });
    const plain: MasterFile[] = [];
    const coverages: CompactionCoverage[] = [];
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.tmp')) temporary.push(full);
      else if (COMPACTED.test(entry.name)) {
        const coverage = JSON.parse(readFileSync(full, 'utf8')) as { files: string[] };
        coverages.push({ id: Number(COMPACTED.exec(entry.name)![1]), parquet: path.join(dir, entry.name.replace('.coverage.json', '.parquet')), files: coverage.files });
      } else {
        const parsed = parseMasterFile(full);
        if (parsed) plain.push(parsed);
      }
    }
    // The newest compaction of a folder covers everything earlier ones did.
    coverages.sort((a, b) => b.id - a.id);
    const live = coverages[0];
    const covered = new Set(live?.files ?? []);
    for (const file of plain) if (!covered.has(file.name)) files.push(file);
    if (live) {
      compactions.push(live);
      for (const name of live.files) {
        const parsed = parseMasterFile(path.join(dir, name));
        if (parsed) files.push({ ...parsed, path: live.parquet });
      }
    }
  };
  walk(root);
  return { files, temporary, compactions };
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
