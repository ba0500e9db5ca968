import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBraid, testEnv } from '../harness/index.ts';
import { braidModules, userProject } from '../harness/user-project.ts';

const ordersModule = `import { defineSource } from ${JSON.stringify(braidModules.sources)};
export const orders = defineSource({
  name: 'orders',
  fields: { date: { type: 'timestampMs' }, order_id: { type: 'string' }, amount: { type: 'float' } },
  timeField: 'date',
  keyFields: ['order_id'],
});
`;
const viewsModule = (body: string) => `import { defineView, tumbling } from ${JSON.stringify(braidModules.views)};
import { count, sum } from ${JSON.stringify(braidModules.measures)};
${body}
`;
const ordersDaily = "export const ordersDaily = defineView({ name: 'orders_daily', source: 'orders', window: tumbling('1d'), measures: { n: count(), amount: sum('amount') } });";

/** Runs braid in a user's project folder; a user mistake never shows a JavaScript stack trace. */
async function braidIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const result = await runBraid(args, { cwd, env: testEnv({ BRAID_DATA_DIR: path.join(cwd, 'data'), ...env }) });
  expect(result.stderr, 'no stack trace').not.toMatch(/^\s+at .+[:(]\d+/m);
  return result;
}

describe('user mistakes with their own sources and views', () => {
  it('each get one clear message, the right exit code and no stack trace', async () => {
    const cwd = userProject({
      'braid.config.yaml': 'sources:\n  readings:\n    fields:\n      at: { type: timestampMs, unit: s }\n      sensor: { type: string }\n    timeField: at\n    keyFields: [sensor]\n',
      'sources/orders.ts': ordersModule,
      'views/orders.ts': viewsModule(ordersDaily),
    });

    const listed = await braidIn(cwd, ['sources', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ name: string; views: string[] }>).map((source) => [source.name, source.views])).toEqual([
      ['clickstream', ['page_views', 'country_minutes', 'user_sessions']],
      ['readings', []],
      ['orders', ['orders_daily']],
    ]);

    const unknownView = await braidIn(cwd, ['speed', '--views', 'orders_weekly']);
    expect(unknownView.code).toBe(1);
    expect(unknownView.stderr).toBe('braid: unknown view "orders_weekly"\n  known views: page_views, country_minutes, user_sessions, orders_daily\n');

    const unknownSource = await braidIn(cwd, ['archive', '--sources', 'order']);
    expect(unknownSource.code).toBe(1);
    expect(unknownSource.stderr).toBe('braid: unknown source "order"\n  known sources: clickstream, readings, orders\n');

    const produceUnknown = await braidIn(cwd, ['produce', 'order', '--count', '1']);
    expect(produceUnknown.stderr).toBe('braid: unknown source "order"\n  known sources: clickstream, readings, orders\n');

    const nothingArchived = await braidIn(cwd, ['recompute', 'orders_daily']);
    expect(nothingArchived.code).toBe(1);
    expect(nothingArchived.stderr).toMatch(/^recompute orders_daily…\nbraid: no archived events of source orders in .*\/data\/master\n {2}run `npx braid archive` first\n$/);
  });

  it('a view on an unknown source, settings for a source that does not exist, a bad declaration and a broken module are refused at load', async () => {
    const typo = userProject({
      'sources/orders.ts': ordersModule,
      'views/orders.ts': viewsModule("export const v = defineView({ name: 'orders_daily', source: 'ordres', window: tumbling('1d'), measures: { n: count() } });"),
    });
    const view = await braidIn(typo, ['views']);
    expect(view.code).toBe(2);
    expect(view.stderr).toBe(`braid: ${path.join(typo, 'views', 'orders.ts')}: view orders_daily: unknown source "ordres" (known sources: clickstream, orders)\n`);

    const settings = userProject({ 'braid.config.yaml': 'sources:\n  ordres:\n    partitions: 8\n', 'sources/orders.ts': ordersModule });
    const unknownSettings = await braidIn(settings, ['sources']);
    expect(unknownSettings.code).toBe(2);
    expect(unknownSettings.stderr).toMatch(/^braid: invalid configuration:\n {2}- sources\.ordres: unknown source; known sources: clickstream, orders\n/);

    const declaration = userProject({ 'braid.config.yaml': 'sources:\n  readings:\n    fields:\n      at: { type: time }\n    timeField: at\n    keyFields: [sensor]\n' });
    const bad = await braidIn(declaration, ['speed']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/- sources\.readings \(from braid\.config\.yaml\): fields\.at\.type: expected one of string, int, float, bool, timestampMs/);

    const broken = userProject({ 'sources/orders.ts': "throw new Error('the orders module is broken');\n" });
    const thrown = await braidIn(broken, ['archive']);
    expect(thrown.code).toBe(2);
    expect(thrown.stderr).toBe(`braid: ${path.join(broken, 'sources', 'orders.ts')}: the orders module is broken\n`);
  });

  it('a speed worker that cannot start ends by itself, non-zero, without waiting for a signal', async () => {
    const cwd = userProject({ 'sources/orders.ts': ordersModule, 'views/orders.ts': viewsModule(ordersDaily) });
    const started = Date.now();
    const result = await braidIn(cwd, ['speed', '--views', 'orders_daily'], { KAFKA_BROKERS: '127.0.0.1:1', BRAID_LOG_LEVEL: 'silent' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/^braid: Kafka did not answer: Connection error: connect ECONNREFUSED 127\.0\.0\.1:1\n  is the broker running\?/m);
    expect(Date.now() - started).toBeLessThan(80_000);
  });
});
