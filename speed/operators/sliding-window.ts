import { FixedWindowOperator } from './fixed-window.ts';
import type { OperatorContext } from './operator.ts';

/**
 * Sliding windows: each event adds to the size/slide windows containing it,
 * each judged for lateness on its own (as Flink does), so an event can still
 * update the later windows after the earlier ones closed.
 */
export class SlidingWindowOperator extends FixedWindowOperator {
  constructor(context: OperatorContext) {
    if (context.view.window.type !== 'sliding') throw new Error(`view ${context.view.name} is not sliding`);
    super(context, context.view.window);
  }
}
