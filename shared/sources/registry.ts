import { BraidError, ErrorCode } from '../errors/index.ts';
import { clickstream } from './clickstream.ts';
import type { Source } from './define-source.ts';

/** Every source Braid knows, by name. */
export const builtInSources: ReadonlyMap<string, Source> = new Map<string, Source>([
  [clickstream.name, clickstream as unknown as Source],
]);

export function sourceNames(): string[] {
  return [...builtInSources.keys()];
}

/** Looks a source up by name; an unknown name is an error that lists the known ones. */
export function getSource(name: string): Source {
  const source = builtInSources.get(name);
  if (!source) {
    throw new BraidError(ErrorCode.NOT_FOUND, `unknown source "${name}"`, {
      fields: { source: name },
      hint: `known sources: ${sourceNames().join(', ')}`,
    });
  }
  return source;
}
