import { describe, expect, it } from 'vitest';
import { Pacer } from '../../shared/pacing/index.ts';

/** Spins for `ms` of wall-clock time: synchronous work that holds the event loop. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('Pacer', () => {
  it('asks for no turn while a slice lasts, then one', async () => {
    const pacer = new Pacer({ sliceMs: 1_000 });
    for (let i = 0; i < 10_000; i++) expect(pacer.pace()).toBeUndefined();
    const short = new Pacer({ sliceMs: 1 });
    busy(3);
    let turns = 0;
    for (let i = 0; i < 1_000; i++) {
      const turn = short.pace();
      if (turn) {
        turns++;
        await turn;
        busy(3);
      }
    }
    expect(turns).toBeGreaterThan(0);
  });

  it('lets other work run during a long loop: a timer set before it fires long before the loop ends', async () => {
    const started = performance.now();
    let firedAtMs: number | undefined;
    setTimeout(() => (firedAtMs = performance.now() - started), 5);
    const pacer = new Pacer({ sliceMs: 3 });
    for (let i = 0; i < 60_000; i++) {
      busy(0.005);
      const turn = pacer.pace();
      if (turn) await turn;
    }
    const loopMs = performance.now() - started;
    expect(loopMs).toBeGreaterThan(200);
    expect(firedAtMs).toBeDefined();
    expect(firedAtMs!).toBeLessThan(loopMs / 3);
  });

  it('stops the work with the abort error once its signal aborts', async () => {
    const controller = new AbortController();
    const pacer = new Pacer({ sliceMs: 0, signal: controller.signal, onAbort: () => new Error('too slow') });
    await pacer.turn();
    controller.abort();
    await expect(pacer.turn()).rejects.toThrow('too slow');
  });
});
