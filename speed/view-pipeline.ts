import type { View } from '../shared/views/index.ts';
import { compileJsPredicate } from '../shared/views/index.ts';
import { compileGroupKey } from './group-key.ts';
import { createOperator, type Operator, type SketchTtls } from './operators/index.ts';
import type { SpeedKeys } from '../shared/speed-contract/index.ts';

/** One view's path through a partition: filter → key → window operator. */
export interface ViewPipeline {
  readonly view: View;
  readonly filter: ((event: Record<string, unknown>) => boolean) | undefined;
  readonly groupKey: (event: Record<string, unknown>) => string;
  readonly operator: Operator;
}

export function createViewPipeline(
  view: View,
  context: { keys: SpeedKeys; group: string; topic: string; partition: number; sketchTtls?: SketchTtls | undefined },
): ViewPipeline {
  return {
    view,
    filter: view.filter ? compileJsPredicate(view.filter) : undefined,
    groupKey: compileGroupKey(view.dimensions),
    operator: createOperator({ view, ...context }),
  };
}
