import { BraidError, ErrorCode } from '../errors/index.ts';
import type { View } from './define-view.ts';

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

/** A registry of the given views; a name used twice is an error. */
export function viewRegistryOf(views: View[]): ViewRegistry {
  return registryOf(views);
}
