export { createOperator } from './registry.ts';
export { SketchTtls, windowAcceptsAt, type Operator, type OperatorContext } from './operator.ts';
export { FixedWindowOperator } from './fixed-window.ts';
export { decodeStoredSession, encodeStoredSession, SessionWindowOperator, sessionId, type StoredSession } from './session-window.ts';
