import path from 'node:path';
import type { Config } from '../config/index.ts';
import { BraidError, ErrorCode } from '../errors/index.ts';
import { clickstream, defineSource, isSource, useSources, type FieldSpec, type Source, type SourceSpec } from '../sources/index.ts';
import { demoViews, isView, viewRegistryOf, type View, type ViewRegistry } from '../views/index.ts';
import { importUserModules } from './user-modules.ts';

/** A source of the catalog and where it was defined: `demo`, the config file (`braid.config.yaml: sources.orders`) or a module. */
export interface CatalogSource {
  readonly source: Source;
  readonly origin: string;
}

/** What every command serves: the sources and the views, loaded the same way by all of them. */
export interface Catalog {
  readonly sources: ReadonlyMap<string, CatalogSource>;
  readonly views: ViewRegistry;
  /** A source by name; an unknown name is a NOT_FOUND error listing the known ones. */
  source(name: string): Source;
  /** The sources named in a comma-separated list (as `--sources a,b` gives it), or all of them. */
  sourcesNamed(list: string | undefined): Source[];
}

const DEMO = 'demo (views.includeDemo)';

/**
 * Loads the catalog a command works on:
 * - sources: the demo `clickstream` (with `views.includeDemo`), those declared in the config file
 *   (`sources.<name>.fields`), and every `defineSource(...)` exported by a module of `sources.dir`;
 * - views: the demo views (with `views.includeDemo`) and every `defineView(...)` exported by a module of
 *   `views.dir`; a view may name its source (`source: 'orders'`) or hand it over (`source: orders`).
 * A source defined twice, a view on an unknown source, or settings (`sources.<name>`) for a source that does not
 * exist fail here, naming the file, the source and the field.
 *
 * @example
 * const catalog = await loadCatalog(loadConfig());
 * catalog.views.get('orders_daily').source.name; // 'orders'
 */
export async function loadCatalog(config: Config): Promise<Catalog> {
  const sources = new Map<string, CatalogSource>();
  const add = (source: Source, origin: string) => {
    const known = sources.get(source.name);
    if (known && known.source !== source) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `source ${source.name} is defined twice: in ${known.origin} and in ${origin}`, {
        fields: { source: source.name },
        hint: 'give one of them another name',
      });
    }
    if (!known) sources.set(source.name, { source, origin });
  };

  if (config.views.includeDemo) add(clickstream as unknown as Source, DEMO);
  const configFile = config.configFile ? path.basename(config.configFile) : 'the configuration';
  for (const { name, spec } of config.sources.declarations) {
    const origin = `${configFile}: sources.${name}`;
    try {
      add(defineSource(spec as unknown as SourceSpec<Record<string, FieldSpec>>) as unknown as Source, origin);
    } catch (error) {
      throw prefixed(origin, error);
    }
  }
  for (const module of await importUserModules(config.sources.dir)) {
    for (const value of module.exports) if (isSource(value)) add(value, module.file);
  }
  // Views resolve source names against these from here on.
  useSources([...sources.values()].filter((entry) => entry.origin !== DEMO).map((entry) => entry.source));

  const views: View[] = config.views.includeDemo ? [...demoViews] : [];
  for (const module of await importUserModules(config.views.dir)) {
    for (const value of module.exports) {
      if (isView(value)) {
        views.push(value);
        // A view may carry a source of its own (`source: orders`, defined in the view's module).
        add(value.source, module.file);
      } else if (isSource(value)) {
        add(value, module.file);
      }
    }
  }
  const registry = viewRegistryOf(views);

  const known = [...sources.keys()];
  const unknownSettings = Object.keys(config.sources.settings).filter((name) => !sources.has(name));
  if (unknownSettings.length > 0) {
    throw new BraidError(
      ErrorCode.CONFIG_INVALID,
      `invalid configuration:\n${unknownSettings.map((name) => `  - sources.${name}: unknown source; known sources: ${known.join(', ') || 'none'}`).join('\n')}`,
      {
        fields: { configFile: config.configFile },
        hint: `declare it there with fields, timeField and keyFields, or in a module of ${config.sources.dir}`,
      },
    );
  }

  const source = (name: string): Source => {
    const entry = sources.get(name);
    if (!entry) {
      throw new BraidError(ErrorCode.NOT_FOUND, `unknown source "${name}"`, {
        fields: { source: name },
        hint: `known sources: ${known.join(', ') || `none (define sources in ${config.sources.dir} or under sources: in the config file)`}`,
      });
    }
    return entry.source;
  };
  return {
    sources,
    views: registry,
    source,
    sourcesNamed(list) {
      if (list === undefined) return [...sources.values()].map((entry) => entry.source);
      return list
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean)
        .map(source);
    },
  };
}

function prefixed(origin: string, error: unknown): BraidError {
  const braid = error instanceof BraidError ? error : undefined;
  return new BraidError(ErrorCode.CONFIG_INVALID, `${origin}: ${braid ? braid.message : (error as Error).message}`, {
    cause: error,
    fields: braid?.fields ?? {},
  });
}
