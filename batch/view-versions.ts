import path from 'node:path';
import type { MasterFile } from './master-dataset.ts';
import { currentVersionIn, manifestOf, manifestsIn, versionFolder } from './versioned-folder.ts';

/**
 * Where a view's versions live: `views/<view>/` under the data directory, a versioned folder (see
 * versioned-folder.ts) of `v<N>/` folders, each a `data.parquet` and a `manifest.json`, and a `CURRENT` pointer.
 * Publishing a version keeps the newest `batch.keepVersions` of them and the current one.
 */
export function viewRoot(dataDir: string, view: string): string {
  return path.join(dataDir, 'views', view);
}

/** What a published version says about itself (`manifest.json`). */
export interface BatchManifest {
  readonly view: string;
  readonly version: number;
  readonly definitionHash: string;
  /** Windows ending at or before this are authoritative in this version. */
  readonly cutoffMs: number;
  readonly createdAt: string;
  readonly durationMs: number;
  readonly rowCount: number;
  /** Measure state is kept in typed Parquet columns (see compileView). */
  readonly stateColumns: 'typed';
  /** Where the run's time went, in ms: `schema` (checking that the source as defined reads every master file), `sketchPositions` (hashing approxDistinct values), `query` (the compiled SQL, written to Parquet). */
  readonly timingsMs?: Readonly<Record<string, number>>;
  /** The master files this version covers, with their offset coverage. */
  readonly inputs: ReadonlyArray<{ file: string; partition: number; firstOffset: number; lastOffset: number }>;
  /** `full`, or `incremental` (only windows touching `recomputedRanges` were recomputed; the rest came from the previous version). */
  readonly mode: 'full' | 'incremental';
  /** Why a requested incremental run was full, when it was. */
  readonly fullBecause?: string;
  /** Event-time ranges (ISO-8601, both ends included) whose windows an incremental run recomputed. */
  readonly recomputedRanges?: ReadonlyArray<{ readonly from: string; readonly to: string }>;
}

/** The Parquet file of one published version of a view. */
export function viewDataFile(dataDir: string, view: string, version: number): string {
  return path.join(versionFolder(viewRoot(dataDir, view), version), 'data.parquet');
}

/** Published versions of a view, oldest first. */
export function listVersions(dataDir: string, view: string): BatchManifest[] {
  return manifestsIn<BatchManifest>(viewRoot(dataDir, view));
}

/** The version readers use now (the pointer), or null before the first publish. */
export function currentVersion(dataDir: string, view: string): number | null {
  return currentVersionIn(viewRoot(dataDir, view));
}

/** One published version's manifest. */
export function viewManifest(dataDir: string, view: string, version: number): BatchManifest {
  return manifestOf<BatchManifest>(viewRoot(dataDir, view), version);
}

/** A flush file's stable name in manifests (`<YYYY-MM-DD>/<flush file>`): unchanged by compaction. */
export function inputName(file: MasterFile): string {
  return `${file.folder}/${file.name}`;
}
