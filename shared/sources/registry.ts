import { BraidError, ErrorCode } from '../errors/index.ts';
import { clickstream } from './clickstream.ts';
import type { Source } from './define-source.ts';

/**
 * Sources by name, for `defineView({ source: name })`. Three kinds live here:
 * - the demo source, `clickstream`, always resolvable (the demo views are defined on it);
 * - the catalog's sources: what a command loaded from the config file and `sources.dir` (`useSources`);
 * - sources registered at run time (`registerSource`, as the benchmarks do).
 */
const builtInSources: ReadonlyMap<string, Source> = new Map<string, Source>([[clickstream.name, clickstream as unknown as Source]]);
let catalogSources = new Map<string, Source>();
const registeredSources = new Map<string, Source>();

/** The catalog's sources first: with the demo off, a user's own `clickstream` is the one a view means. */
function lookUp(name: string): Source | undefined {
  return catalogSources.get(name) ?? builtInSources.get(name) ?? registeredSources.get(name);
}

export function sourceNames(): string[] {
  return [...new Set([...builtInSources.keys(), ...catalogSources.keys(), ...registeredSources.keys()])];
}

/** Looks a source up by name; an unknown name is an error that lists the known ones. */
export function getSource(name: string): Source {
  const source = lookUp(name);
  if (!source) {
    throw new BraidError(ErrorCode.NOT_FOUND, `unknown source "${name}"`, {
      fields: { source: name },
      hint: `known sources: ${sourceNames().join(', ')}`,
    });
  }
  return source;
}

function clashes(source: Source): boolean {
  const known = registeredSources.get(source.name);
  return known !== undefined && known !== source;
}

/**
 * Makes the sources a command loaded (its catalog) known by name, replacing the sources of any catalog loaded
 * before, so views defined after this find them.
 */
export function useSources(sources: readonly Source[]): void {
  for (const source of sources) {
    if (clashes(source)) {
      throw new BraidError(ErrorCode.CONFIG_INVALID, `source "${source.name}" is already defined (registered with registerSource)`, {
        fields: { source: source.name },
        hint: 'give the new source another name',
      });
    }
  }
  catalogSources = new Map(sources.map((source) => [source.name, source]));
}

/**
 * Makes a source defined outside the catalog known by name, so
 * `defineView({ source: name, … })` finds it. Registering the same source
 * again does nothing; another source under a known name is an error.
 *
 * @example
 * const bid = defineSource({ name: 'bid', fields: { … }, timeField: 'ts', keyFields: ['bidder'] });
 * registerSource(bid as unknown as Source);
 */
export function registerSource(source: Source): void {
  const known = lookUp(source.name);
  if (known === source) return;
  if (known) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `source "${source.name}" is already defined`, {
      fields: { source: source.name },
      hint: 'give the new source another name',
    });
  }
  registeredSources.set(source.name, source);
}
