import { describe, expect, it } from 'vitest';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { describeWindow, session, sliding, tumbling, windowSizeMs, windowStartsFor } from '../../shared/views/index.ts';
import { catchError, MINUTE_MS, T0 } from './helpers/windows.ts';

describe('window specs', () => {
  it('parse durations into milliseconds', () => {
    expect(tumbling('1m')).toEqual({ type: 'tumbling', sizeMs: MINUTE_MS });
    expect(sliding('5m', '1m')).toEqual({ type: 'sliding', sizeMs: 5 * MINUTE_MS, slideMs: MINUTE_MS });
    expect(session('30m')).toEqual({ type: 'session', gapMs: 30 * MINUTE_MS });
    expect(tumbling(1_500)).toEqual({ type: 'tumbling', sizeMs: 1_500 });
  });

  it('accept a sliding window whose slide equals its size (a tumbling window in disguise)', () => {
    expect(windowStartsFor(sliding('1m', '1m'), T0 + 30_000)).toEqual([T0]);
  });

  it.each([
    ['tumbling(size)', () => tumbling('0s'), '"0s"'],
    ['tumbling(size)', () => tumbling('soon'), '"soon"'],
    ['tumbling(size)', () => tumbling(-5), '-5'],
    ['tumbling(size)', () => tumbling(1.5), '1.5'],
    ['sliding(size)', () => sliding('0m', '1m'), '"0m"'],
    ['sliding(slide)', () => sliding('5m', 'often'), '"often"'],
    ['session(gap)', () => session('0'), '"0"'],
  ])('rejects a bad duration, naming the argument %s', (argument, build, shown) => {
    const error = catchError(build);
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((error as BraidError).message).toContain(argument);
    expect((error as BraidError).message).toContain(shown);
    // Says what a good value looks like, not only that this one is wrong.
    expect((error as BraidError).message).toMatch(/such as/);
  });

  it('rejects a sliding size that is not a whole multiple of the slide, naming both', () => {
    const error = catchError(() => sliding('5m', '2m'));
    expect(error).toBeInstanceOf(BraidError);
    expect((error as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((error as BraidError).message).toMatch(/sliding\(5m, 2m\)/);
    expect((error as BraidError).message).toMatch(/size must be a whole multiple of slide/);
  });

  it('describe themselves and report their size', () => {
    expect(describeWindow(tumbling('1m'))).toBe('tumbling 1m');
    expect(describeWindow(sliding('5m', '1m'))).toBe('sliding 5m every 1m');
    expect(describeWindow(session('30m'))).toBe('session gap 30m');
    expect(windowSizeMs(tumbling('1m'))).toBe(MINUTE_MS);
    expect(windowSizeMs(sliding('5m', '1m'))).toBe(5 * MINUTE_MS);
    expect(() => windowSizeMs(session('30m'))).toThrow(/session/);
    expect(() => windowStartsFor(session('30m'), T0)).toThrow(/session operator/);
  });
});
