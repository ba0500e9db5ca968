import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BraidError, ErrorCode } from '../errors/index.ts';

/** A module of a user's folder and what it exports. */
export interface UserModule {
  readonly file: string;
  readonly exports: readonly unknown[];
}

/**
 * Imports every `.ts`/`.mts`/`.js`/`.mjs` module of a folder (tests and type declarations left out), in name order, and
 * lists each module's exported values, with the items of exported arrays. A module that fails to load is a
 * CONFIG_INVALID error naming the file. A folder that does not exist holds no modules.
 */
export async function importUserModules(dir: string): Promise<UserModule[]> {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `${dir} is not a folder`, { fields: { file: dir } });
  }
  const files = readdirSync(dir)
    .filter((file) => /\.(ts|mts|js|mjs)$/.test(file) && !/\.d\.m?ts$/.test(file) && !file.includes('.test.'))
    .sort();
  const modules: UserModule[] = [];
  for (const file of files) {
    const full = path.join(dir, file);
    let exported: Record<string, unknown>;
    try {
      exported = (await import(pathToFileURL(full).href)) as Record<string, unknown>;
    } catch (error) {
      const braid = error instanceof BraidError ? error : undefined;
      const message = braid ? braid.message : (error as Error).message;
      // A folder outside the checkout, with no package.json of its own, makes Node load .ts/.js as CommonJS.
      const commonJs = /require\(\) (of )?ES Module|Cannot use import statement outside a module/.test(message);
      throw new BraidError(ErrorCode.CONFIG_INVALID, `${full}: ${commonJs ? 'loaded as a CommonJS module, so its imports fail' : message}${braid?.hint ? ` (${braid.hint})` : ''}`, {
        cause: error,
        fields: { file: full, ...(braid?.fields ?? {}) },
        ...(commonJs ? { hint: `put a package.json holding {"type": "module"} in ${dir} or a folder above it, or name the file .mts` } : {}),
      });
    }
    const values = Object.values(exported).flatMap((value) => (Array.isArray(value) ? value : [value]));
    modules.push({ file: full, exports: [...new Set(values)] });
  }
  return modules;
}
