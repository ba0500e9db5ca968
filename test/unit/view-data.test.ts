import { describe, expect, it } from 'vitest';
import { approxDistinct, avg, count, max, min, sum, topK } from '../../shared/measures/index.ts';
import { clickstream } from '../../shared/sources/index.ts';
import { and, compileJsPredicate, defineView, demoViews, field, lit, tumbling, viewsFromData, viewToData, type View } from '../../shared/views/index.ts';
import { packBatch } from '../../speed/threads/pipeline-host.ts';
import { compileGroupKey } from '../../speed/group-key.ts';

const everyMeasure = defineView({
  name: 'every_measure',
  source: 'clickstream',
  groupBy: ['country', { name: 'device_is_mobile', expr: field('device').eq(lit('mobile')) }],
  window: tumbling('10s'),
  filter: and(field('revenue').gt(lit(0)), field('url').ne(lit('/'))),
  measures: {
    n: count(),
    revenue: sum('revenue'),
    low: min('revenue'),
    high: max('revenue'),
    mean: avg('revenue'),
    users: approxDistinct('user_id'),
    top: topK('url', 3),
  },
  allowedLateness: '5s',
  retention: '2h',
});

const event = { ts: 1_000, user_id: 'u1', url: '/cart', country: 'DE', device: 'mobile', revenue: 12.5, session_id: 's1' };

describe('views as plain data (how views cross to the pipeline thread)', () => {
  it('survives structured cloning and rebuilds the same view', () => {
    for (const view of [...demoViews, everyMeasure]) {
      const [rebuilt] = viewsFromData([structuredClone(viewToData(view))]) as [View];
      expect(rebuilt.definitionHash).toBe(view.definitionHash);
      expect(rebuilt.window).toEqual(view.window);
      expect(rebuilt.dimensions).toEqual(view.dimensions);
      expect(rebuilt.filter).toEqual(view.filter);
      expect([rebuilt.allowedLatenessMs, rebuilt.retentionMs]).toEqual([view.allowedLatenessMs, view.retentionMs]);
      expect(rebuilt.measures.map(({ name, measure }) => [name, measure.describe()])).toEqual(view.measures.map(({ name, measure }) => [name, measure.describe()]));
      expect(rebuilt.source.decode(JSON.stringify(event))).toEqual(clickstream.decode(JSON.stringify(event)));
    }
  });

  it('carries a calendar window’s unit and time zone, and the hash they make', () => {
    const newYorkDays = defineView({ name: 'ny_days', source: 'clickstream', groupBy: ['country'], window: tumbling('1d', { timeZone: 'America/New_York' }), measures: { n: count() } });
    const [rebuilt] = viewsFromData([structuredClone(viewToData(newYorkDays))]) as [View];
    expect(rebuilt.window).toEqual({ type: 'tumbling', unit: 'day', timeZone: 'America/New_York' });
    expect(JSON.parse(JSON.stringify(viewToData(newYorkDays))).window).toEqual(rebuilt.window);
    expect(rebuilt.definitionHash).toBe(newYorkDays.definitionHash);
    expect(rebuilt.retentionMs).toBe(newYorkDays.retentionMs);
  });

  it('rebuilt measures, filters and group keys compute what the originals do', () => {
    const [rebuilt] = viewsFromData([viewToData(everyMeasure)]) as [View];
    expect(compileJsPredicate(rebuilt.filter!)(event)).toBe(compileJsPredicate(everyMeasure.filter!)(event));
    expect(compileGroupKey(rebuilt.dimensions)(event)).toBe(compileGroupKey(everyMeasure.dimensions)(event));
    everyMeasure.measures.forEach(({ measure }, index) => {
      const twin = rebuilt.measures[index]!.measure;
      const fill = (m: typeof measure) => [12.5, 3, 7].reduce((state, value) => m.add(state, m.field === 'url' ? `/p${value}` : value), m.zero());
      expect(twin.serialize(fill(twin))).toBe(measure.serialize(fill(measure)));
    });
  });

  it('views on one source share one rebuilt source', () => {
    const rebuilt = viewsFromData(demoViews.map(viewToData));
    expect(new Set(rebuilt.map((view) => view.source)).size).toBe(1);
  });
});

describe('packBatch', () => {
  const message = (offset: number, key: string | null, value: string | null) => ({
    offset: String(offset),
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
    timestamp: '0',
    attributes: 0,
    headers: {},
  });
  const messages = [message(7, 'k7', '{"a":1}'), message(8, null, 'ü'), message(9, 'k9', null), message(10, '', '')];

  it('packs values and keys back to back, nulls as length -1, from the given offset on', () => {
    const packed = packBatch(3, messages, 8)!;
    expect(packed.lastOffset).toBe(10);
    const { batch } = packed;
    expect(batch.partition).toBe(3);
    expect([...batch.offsets]).toEqual([8, 9, 10]);
    expect([...batch.valueLengths]).toEqual([2, -1, 0]);
    expect([...batch.keyLengths]).toEqual([-1, 2, 0]);
    expect(Buffer.from(batch.values).toString()).toBe('ü');
    expect(Buffer.from(batch.keys).toString()).toBe('k9');
    // Own buffers (not slices of Node's pool), so they can move to the thread.
    expect(batch.values.byteOffset).toBe(0);
    expect(batch.values.buffer.byteLength).toBe(batch.values.byteLength);
  });

  it('is null when every message is before the offset', () => {
    expect(packBatch(0, messages, 11)).toBeNull();
    expect(packBatch(0, messages, null)!.batch.offsets.length).toBe(4);
  });
});
