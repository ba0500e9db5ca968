import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '../..');

/** Where a user's module imports Braid's public faces from (absolute, as the project folder is outside the checkout). */
export const braidModules = {
  sources: path.join(repo, 'shared/sources/index.ts'),
  views: path.join(repo, 'shared/views/index.ts'),
  measures: path.join(repo, 'shared/measures/index.ts'),
};

/**
 * A user's project folder in a new temporary folder: a `package.json` that makes its modules ES modules, and the
 * given files (config file, `sources/` and `views/` modules, data files) at their relative paths.
 */
export function userProject(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braid-project-'));
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}
