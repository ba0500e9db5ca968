import { existsSync, readdirSync, rmSync } from 'node:fs';
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
 */

/** Columns the archive adds to the source's fields. */
export const ARCHIVE_COLUMNS = { kafka_partition: 'INTEGER', kafka_offset: 'BIGINT' } as const;

const FILE_NAME = /^(.+)-p(\d+)-o(\d+)-(\d+)-(\d+)of(\d+)\.parquet$/;

export interface MasterFile {
  readonly path: string;
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
    topic: match[1]!,
    partition: Number(match[2]),
    firstOffset: Number(match[3]),
    lastOffset: Number(match[4]),
    index: Number(match[5]),
    count: Number(match[6]),
    hourMs: folder ? Date.parse(`${folder[1]}T${folder[2]}:00:00Z`) : Number.NaN,
  };
}

/** Every file under a source's root, including `.tmp` leftovers (returned separately). */
export function listMasterFiles(dataDir: string, source: string): { files: MasterFile[]; temporary: string[] } {
  const root = sourceRoot(dataDir, source);
  const files: MasterFile[] = [];
  const temporary: string[] = [];
  if (!existsSync(root)) return { files, temporary };
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.tmp')) temporary.push(full);
      else {
        const parsed = parseMasterFile(full);
        if (parsed) files.push(parsed);
      }
    }
  };
  walk(root);
  return { files, temporary };
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
    else incomplete.push(...group);
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
