import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A folder of published versions, as batch views and SQL datasets are kept: `v<N>/` folders (each a
 * `data.parquet` and a `manifest.json`) and a `CURRENT` pointer. A version is written in a staging folder, renamed
 * into place whole, and made current by renaming a new pointer over the old one, so a reader that pinned a version
 * keeps reading it, and no reader ever sees half a version.
 */
export function versionFolder(root: string, version: number): string {
  return path.join(root, `v${version}`);
}

/** The version readers use now, or null before the first publish. */
export function currentVersionIn(root: string): number | null {
  const pointer = path.join(root, 'CURRENT');
  return existsSync(pointer) ? Number(readFileSync(pointer, 'utf8').trim()) : null;
}

/** The published versions' manifests, oldest first. */
export function manifestsIn<M extends { version: number }>(root: string): M[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => /^v\d+$/.test(name))
    .map((name) => JSON.parse(readFileSync(path.join(root, name, 'manifest.json'), 'utf8')) as M)
    .sort((a, b) => a.version - b.version);
}

export function manifestOf<M>(root: string, version: number): M {
  return JSON.parse(readFileSync(path.join(versionFolder(root, version), 'manifest.json'), 'utf8')) as M;
}

/** A new version's number and its staging folder (removed by `publish`, or by the caller when the work fails). */
export function stageVersion(root: string): { version: number; staging: string } {
  mkdirSync(root, { recursive: true });
  const version = Math.max(0, ...manifestsIn(root).map((manifest) => manifest.version)) + 1;
  const staging = path.join(root, `.v${version}-${randomBytes(4).toString('hex')}.tmp`);
  mkdirSync(staging);
  return { version, staging };
}

/** Writes the manifest, renames the staging folder into place, points `CURRENT` at it and keeps the newest `keep` versions. */
export function publishVersion(root: string, version: number, staging: string, manifest: object, keep: number): void {
  writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(staging, versionFolder(root, version));
  const pointer = path.join(root, `CURRENT.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(pointer, `${version}\n`);
  renameSync(pointer, path.join(root, 'CURRENT'));
  const current = currentVersionIn(root);
  const versions = manifestsIn(root).map((entry) => entry.version);
  for (const old of versions.slice(0, Math.max(0, versions.length - keep))) {
    if (old !== current) rmSync(versionFolder(root, old), { recursive: true, force: true });
  }
}
