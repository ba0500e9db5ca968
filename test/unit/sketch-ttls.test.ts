import { describe, expect, it } from 'vitest';
import { topK } from '../../shared/measures/index.ts';
import { defineView, tumbling } from '../../shared/views/index.ts';
import { createOperator, SketchTtls } from '../../speed/operators/index.ts';
import { checkpoint, clickstreamEvent, contextFor, MINUTE_MS, T0 } from './helpers/windows.ts';

describe('sketch TTLs', () => {
  it('SketchTtls: a key is claimed once per window; forgotten windows and clear() let it be claimed again', () => {
    const ttls = new SketchTtls();
    expect(ttls.claim(0, 'a')).toBe(true);
    expect(ttls.claim(0, 'a')).toBe(false);
    expect(ttls.claim(60_000, 'a')).toBe(true);
    ttls.forget((start) => start < 60_000);
    expect(ttls.claim(0, 'a')).toBe(true);
    expect(ttls.claim(60_000, 'a')).toBe(false);
    ttls.clear();
    expect(ttls.claim(60_000, 'a')).toBe(true);
  });

  const pagesView = defineView({
    name: 'test_pages',
    source: 'clickstream',
    groupBy: ['country'],
    window: tumbling('1m'),
    measures: { pages: topK('url', 3) },
  });
  /** Per partition 0 and 1, in turn: an event of [T0, T0 + 1m), then a checkpoint at `watermarkMs`; the sketch TTLs each set. */
  const sketchTtlOps = (sketchTtls: () => SketchTtls | undefined, watermarkMs: number) =>
    [0, 1].map((partition) => {
      const operator = createOperator({ ...contextFor(pagesView), partition, sketchTtls: sketchTtls() });
      expect(operator.process(clickstreamEvent(`u${partition}`, T0), 'US', T0, T0 - MINUTE_MS)).toBe(true);
      return checkpoint(operator, watermarkMs).filter((op) => op.code === 'T' && op.key.includes(':t:pages:')).length;
    });

  it("operators of one view on two partitions sharing a registry set a sketch's TTL once; on their own, once each", () => {
    const shared = new SketchTtls();
    expect(sketchTtlOps(() => shared, T0 - MINUTE_MS)).toEqual([1, 0]);
    expect(sketchTtlOps(() => undefined, T0 - MINUTE_MS)).toEqual([1, 1]);
  });

  it('a window that closes in a flush round keeps its sketch TTLs for the partitions flushed after the first (regression: 4 in 10 PEXPIREs repeated one)', () => {
    // By this round's checkpoints the window has closed for both partitions.
    const shared = new SketchTtls();
    expect(sketchTtlOps(() => shared, T0 + 3 * MINUTE_MS)).toEqual([1, 0]);
  });
});
