import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { PartitionSketch, redisHllPosition, SketchLog } from '../../shared/measures/index.ts';

describe('sketch logs', () => {
  it('a sketch log takes each slot\'s positions into its sketch at the fold, marks only sketches that grew, and starts empty again', () => {
    const log = new SketchLog();
    const random = xoroshiro128plus(11);
    // Three sketches, one of which already holds what it will be offered; more positions than the log's first room.
    const full = new PartitionSketch();
    const values = Array.from({ length: 3_000 }, (_, index) => redisHllPosition(`v${index}`));
    for (const position of values.slice(0, 100)) full.add(position);
    const sketches = [new PartitionSketch(), full, new PartitionSketch()];
    const slots = sketches.map((sketch) => log.slot(sketch));
    const expected = [new PartitionSketch(), PartitionSketch.fromBytes(full.toBytes()), new PartitionSketch()];
    for (const position of values) {
      // Interleaved: slot 1 only ever gets what it holds.
      const slot = uniformInt(random, 0, 2);
      const offered = slot === 1 ? values[uniformInt(random, 0, 99)]! : position;
      log.push(slots[slot]!, offered);
      expected[slot]!.add(offered);
    }
    log.fold();
    sketches.forEach((sketch, slot) => expect(sketch.toBytes(), `slot ${slot}`).toEqual(expected[slot]!.toBytes()));
    expect(sketches.map((sketch) => sketch.unwritten)).toEqual([true, false, true]);
    // Folded positions are gone: folding again changes nothing.
    sketches[0]!.unwritten = false;
    log.fold();
    expect(sketches[0]!.unwritten).toBe(false);
    log.clear();
    expect(log.sketches).toEqual([]);
    expect(log.slot(new PartitionSketch())).toBe(0);
  });
});
