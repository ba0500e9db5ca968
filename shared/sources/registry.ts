import { BraidError, ErrorCode } from '../errors/index.ts';
import { clickstream } from './clickstream.ts';
import type { Source } from './define-source.ts';

/** Every source Braid knows, by name. */
export const builtInSources: ReadonlyMap<string, Source> = new Map<string, Source>([
  [clickstream.name, clickstream as unknown as Source],
]);

/** Sources added at run time with `registerSource` (benchmarks, tests). */
const registeredSources = new Map<string, Source>();

export function sourceNames(): string[] {
  return [...builtInSources.keys(), ...registeredSources.keys()];
}

/** Looks a source up by name; an unknown name is an error that lists the known ones. */
export function getSource(name: string): Source {
  const source = builtInSources.get(name) ?? registeredSources.get(name);
  if (!source) {
    throw new BraidError(ErrorCode.NOT_FOUND, `unknown source "${name}"`, {
      fields: { source: name },
      hint: `known sources: ${sourceNames().join(', ')}`,
    });
  }
  return source;
}

/**
 * Makes a source defined outside `shared/sources/` known by name, so
 * `defineView({ source: name, … })` finds it. Registering the same source
 * again does nothing; another source under a known name is an error.
 *
 * @example
 * const bid = defineSource({ name: 'bid', fields: { … }, timeField: 'ts', keyFields: ['bidder'] });
 * registerSource(bid as unknown as Source);
 */
export function registerSource(source: Source): void {
  const known = builtInSources.get(source.name) ?? registeredSources.get(source.name);
  if (known === source) return;
  if (known) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `source "${source.name}" is already defined`, {
      fields: { source: source.name },
      hint: 'give the new source another name',
    });
  }
  registeredSources.set(source.name, source);
}
