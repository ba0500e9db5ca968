export { assertNever, BraidError, ErrorCode, toBraidError, type BraidErrorOptions } from './braid-error.ts';
