import type { View } from '../../../shared/views/index.ts';
import { SpeedKeys } from '../../../shared/speed-contract/index.ts';
import { FlushProgram } from '../../../speed/flush-program.ts';
import type { Operator } from '../../../speed/operators/index.ts';
import { opsOf, type FlushOp } from '../../harness/flush-ops.ts';

/** What the tests of windows and of the speed operators share. */

export const MINUTE_MS = 60_000;
/** A whole hour, so minute-aligned windows start on it. */
export const T0 = Date.parse('2026-01-01T00:00:00Z');

/** The error `run` throws; fails the test if it throws none. */
export function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

// Speed operators, observed through the ops they write into a FlushProgram.

export const keys = new SpeedKeys('t:');

/** An operator context for `view`: consumer group `g`, topic `t`, partition 0. */
export function contextFor(view: View) {
  return { view, keys, group: 'g', topic: 't', partition: 0 };
}

export function clickstreamEvent(userId: string, timeMs: number, revenue: number | null = null): Record<string, unknown> {
  return { ts: timeMs, user_id: userId, session_id: `${userId}-s`, url: '/', country: 'US', device: 'mobile', revenue };
}

/** The ops `operator` writes at a checkpoint at `watermarkMs`. */
export function checkpoint(operator: Operator, watermarkMs: number): FlushOp[] {
  const program = new FlushProgram(keys.partitions('g'));
  operator.onCheckpoint(program, watermarkMs);
  return opsOf(program);
}
