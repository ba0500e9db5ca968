import { BraidError, ErrorCode } from '../shared/errors/index.ts';

/**
 * `promise`, or a TIMEOUT error after `ms` (the work itself is not cancelled).
 * `error` builds the error, so callers can name what timed out.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  error: () => BraidError = () => new BraidError(ErrorCode.TIMEOUT, `no answer within ${ms} ms`, { fields: { timeoutMs: ms } }),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(error()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
