import type { WindowSpec } from '../../shared/views/index.ts';
import type { Operator, OperatorContext } from './operator.ts';
import { SessionWindowOperator } from './session-window.ts';
import { SlidingWindowOperator } from './sliding-window.ts';
import { TumblingWindowOperator } from './tumbling-window.ts';

/** The one place that maps a window type to its operator. */
const OPERATORS: Record<WindowSpec['type'], new (context: OperatorContext) => Operator> = {
  tumbling: TumblingWindowOperator,
  sliding: SlidingWindowOperator,
  session: SessionWindowOperator,
};

export function createOperator(context: OperatorContext): Operator {
  return new OPERATORS[context.view.window.type](context);
}
