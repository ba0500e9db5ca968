import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BraidError, ErrorCode } from '../errors/index.ts';
import { demoViews } from './demo-views.ts';
import { isView, type View } from './define-view.ts';

export interface ViewRegistry {
  readonly views: ReadonlyMap<string, View>;
  get(name: string): View;
  /** Views reading one source. */
  forSource(source: string): View[];
}

function registryOf(views: View[]): ViewRegistry {
  const byName = new Map<string, View>();
  for (const view of views) {
    if (byName.has(view.name)) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `view ${view.name} is defined twice`, { fields: { view: view.name } });
    }
    byName.set(view.name, view);
  }
  return {
    views: byName,
    get(name) {
      const view = byName.get(name);
      if (!view) {
        throw new BraidError(ErrorCode.NOT_FOUND, `unknown view "${name}"`, {
          fields: { view: name },
          hint: `known views: ${[...byName.keys()].join(', ')}`,
        });
      }
      return view;
    },
    forSource: (source) => [...byName.values()].filter((view) => view.source.name === source),
  };
}

/**
 * The views Braid serves: the demo views (unless `includeDemo` is false) and
 * every view exported by a `.ts`/`.js` module in `viewsDir`. A view that does
 * not validate fails here, naming the view, the field and the file.
 */
export async function loadViews(options: { viewsDir?: string; includeDemo?: boolean } = {}): Promise<ViewRegistry> {
  const views: View[] = options.includeDemo === false ? [] : [...demoViews];
  const dir = options.viewsDir;
  if (dir && existsSync(dir)) {
    const files = readdirSync(dir)
      .filter((file) => /\.(ts|js|mjs)$/.test(file) && !file.endsWith('.d.ts') && !file.includes('.test.'))
      .sort();
    for (const file of files) {
      const full = path.join(dir, file);
      let exports: Record<string, unknown>;
      try {
        exports = (await import(pathToFileURL(full).href)) as Record<string, unknown>;
      } catch (error) {
        const braid = error instanceof BraidError ? error : undefined;
        throw new BraidError(ErrorCode.CONFIG_INVALID, `${full}: ${braid ? braid.message : (error as Error).message}`, {
          cause: error,
          fields: { file: full, ...(braid?.fields ?? {}) },
        });
      }
      for (const value of Object.values(exports)) {
        if (isView(value)) views.push(value);
        else if (Array.isArray(value)) for (const item of value) if (isView(item)) views.push(item);
      }
    }
  }
  return registryOf(views);
}

/** A registry of the given views only (tests, benchmarks). */
export function viewRegistryOf(views: View[]): ViewRegistry {
  return registryOf(views);
}
