export { assertNever, BraidError, connectionRefusal, ErrorCode, toBraidError, type BraidErrorOptions } from './braid-error.ts';
