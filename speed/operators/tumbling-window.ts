import { FixedWindowOperator } from './fixed-window.ts';
import type { OperatorContext } from './operator.ts';

/** Tumbling windows: fixed, non-overlapping; each event in exactly one window. */
export class TumblingWindowOperator extends FixedWindowOperator {
  constructor(context: OperatorContext) {
    if (context.view.window.type !== 'tumbling') throw new Error(`view ${context.view.name} is not tumbling`);
    super(context, context.view.window);
  }
}
