import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { graphql, parseValue } from 'graphql';
import { describe, expect, it } from 'vitest';
import { canRead } from '../../serving/auth/authenticator.ts';
import { LongScalar } from '../../serving/graphql/scalars.ts';
import { buildViewSchema } from '../../serving/graphql/schema.ts';
import { parseViewQuery } from '../../serving/view-query.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { count } from '../../shared/measures/index.ts';
import { defineSource, registerSource, type Source } from '../../shared/sources/index.ts';
import { defineView, demoViews, pageViews, tumbling } from '../../shared/views/index.ts';

const NOW_MS = Date.parse('2026-01-01T12:00:00Z');
const HOUR_MS = 3_600_000;

describe('serving: regressions found in review', () => {
  it('canRead refuses, not throws, for a role named like an Object.prototype key', () => {
    const config = loadConfig({ env: {}, cwd: mkdtempSync(path.join(os.tmpdir(), 'b-')), overrides: { 'serving.auth.roles': { reader: ['page_views'] } } });
    for (const role of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(canRead(config, { name: 'x', kind: 'jwt', roles: [role] }, 'page_views')).toBe(false);
    }
  });

  it('a roll-up cannot widen the range past maxRangeMs', () => {
    let thrown: unknown;
    try {
      parseViewQuery(pageViews, { from: 'now-1h', granularity: '3650d' }, { maxRangeMs: 2 * HOUR_MS, maxRangeByView: {}, maxRows: 10 }, NOW_MS);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as BraidError | undefined)?.code).toBe(ErrorCode.LIMIT_EXCEEDED);
  });

  it('GraphQL where with an explicit in: null is no in filter', async () => {
    const schema = buildViewSchema(demoViews, {
      answer: async (view, i) => { parseViewQuery(view, i, { maxRangeMs: 2 * HOUR_MS, maxRangeByView: {}, maxRows: 10 }, NOW_MS); return { rows: [], meta: {} as never }; },
      watch: () => { throw new Error('x'); },
      readable: () => [],
    });
    const result = await graphql({ schema, source: 'query ($urls: [String]) { pageViews(where: { url: { eq: "/a", in: $urls } }) { rows { url } } }', variableValues: { urls: null } });
    expect(result.errors).toBeUndefined();
  });

  it('REST text for a timestamp dimension may be ISO-8601, as in GraphQL', () => {
    const src = defineSource({ name: 'bug_deploys', fields: { ts: { type: 'timestampMs' }, host: { type: 'string' }, deployed_at: { type: 'timestampMs' } }, timeField: 'ts', keyFields: ['host'] });
    registerSource(src as unknown as Source);
    const view = defineView({ name: 'deploys', source: 'bug_deploys', groupBy: ['deployed_at'], window: tumbling('1m'), measures: { n: count() } });
    expect(parseViewQuery(view, { where: { deployed_at: ['2026-01-01T09:00:00Z'] } }, { maxRangeMs: 2 * HOUR_MS, maxRangeByView: {}, maxRows: 10 }, NOW_MS).where).toEqual({ deployed_at: [Date.parse('2026-01-01T09:00:00Z')] });
  });

  it('granularity error message shows the value given, not a rounded one', () => {
    expect(() => parseViewQuery(pageViews, { granularity: '90s' }, { maxRangeMs: 2 * HOUR_MS, maxRangeByView: {}, maxRows: 10 }, NOW_MS)).toThrow(/got "90s"/);
  });

  it('orderBy -views:asc is refused, not silently descending', () => {
    expect(() => parseViewQuery(pageViews, { orderBy: '-views:asc' }, { maxRangeMs: 2 * HOUR_MS, maxRangeByView: {}, maxRows: 10 }, NOW_MS)).toThrow(/direction once/);
  });

  it('Long literal refuses what Long variables refuse (unsafe integers)', () => {
    expect(() => LongScalar.parseValue(9007199254740993)).toThrow();
    expect(() => LongScalar.parseLiteral(parseValue('9007199254740993'))).toThrow();
  });

  it('from=5 is not a date', () => {
    expect(() => parseViewQuery(pageViews, { from: '5' }, { maxRangeMs: 1e13, maxRangeByView: {}, maxRows: 10 }, NOW_MS)).toThrow();
  });
});
