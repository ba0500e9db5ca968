import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/index.ts';
import { loadConfig } from '../../shared/config/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { braidModules, userProject as project } from '../harness/user-project.ts';

const sourcesModule = braidModules.sources;
const viewsModule = braidModules.views;
const measuresModule = braidModules.measures;

const ordersModule = `import { defineSource } from ${JSON.stringify(sourcesModule)};
export const orders = defineSource({
  name: 'orders',
  fields: { date: { type: 'timestampMs' }, order_id: { type: 'string' }, amount: { type: 'float', nullable: true } },
  timeField: 'date',
  keyFields: ['order_id'],
});
`;

const readingsYaml = `sources:
  readings:
    topic: plant.readings
    partitions: 8
    fields:
      at: { type: timestampMs, unit: s }
      sensor: { type: string }
      value: { type: float, nullable: true }
    timeField: at
    keyFields: [sensor]
`;

function viewModule(body: string): string {
  return `import { defineView, tumbling } from ${JSON.stringify(viewsModule)};
import { count, sum } from ${JSON.stringify(measuresModule)};
${body}
`;
}

async function catalogError(cwd: string): Promise<BraidError> {
  try {
    await loadCatalog(loadConfig({ env: {}, cwd }));
  } catch (error) {
    expect(error).toBeInstanceOf(BraidError);
    return error as BraidError;
  }
  throw new Error('expected the catalog to fail');
}

describe('loadCatalog', () => {
  it('loads sources from the config file and sources/, and views on them from views/, beside the demo', async () => {
    const cwd = project({
      'braid.config.yaml': readingsYaml,
      'sources/orders.ts': ordersModule,
      'views/business.ts': viewModule(`
export const ordersDaily = defineView({ name: 'orders_daily', source: 'orders', window: tumbling('1d'), measures: { orders: count(), amount: sum('amount') } });
export const readingsHourly = defineView({ name: 'readings_hourly', source: 'readings', groupBy: ['sensor'], window: tumbling('1h'), measures: { n: count() } });
`),
    });
    const catalog = await loadCatalog(loadConfig({ env: {}, cwd }));
    expect([...catalog.sources.keys()]).toEqual(['clickstream', 'readings', 'orders']);
    expect(catalog.sources.get('readings')!.origin).toBe('braid.config.yaml: sources.readings');
    expect(catalog.sources.get('orders')!.origin).toBe(path.join(cwd, 'sources', 'orders.ts'));
    expect(catalog.source('readings').topic).toBe('plant.readings');
    expect(catalog.views.get('orders_daily').source).toBe(catalog.source('orders'));
    expect(catalog.views.get('readings_hourly').source).toBe(catalog.source('readings'));
    expect(catalog.views.forSource('clickstream').map((view) => view.name)).toEqual(['page_views', 'country_minutes', 'user_sessions']);
    expect(catalog.sourcesNamed('orders, readings').map((source) => source.name)).toEqual(['orders', 'readings']);
    // A declared epoch-seconds time field decodes to the same instant as ISO text.
    const readings = catalog.source('readings');
    expect(readings.decode('{"at":1767225600.5,"sensor":"s1","value":2}')).toEqual({ ok: true, event: { at: 1767225600500, sensor: 's1', value: 2 } });
    expect(readings.decode('{"at":"2026-01-01T00:00:00.500Z","sensor":"s1"}')).toEqual({ ok: true, event: { at: 1767225600500, sensor: 's1', value: null } });
  });

  it('leaves the demo out with views.includeDemo off, and takes a source a view module defines itself', async () => {
    const cwd = project({
      'braid.config.yaml': 'views:\n  includeDemo: false\n',
      'views/own.ts': viewModule(`import { defineSource } from ${JSON.stringify(sourcesModule)};
export const deploys = defineSource({ name: 'deploys', fields: { ts: { type: 'timestampMs' }, host: { type: 'string' } }, timeField: 'ts', keyFields: ['host'] });
export const perHost = defineView({ name: 'deploys_per_host', source: deploys, groupBy: ['host'], window: tumbling('1h'), measures: { n: count() } });
`),
    });
    const catalog = await loadCatalog(loadConfig({ env: {}, cwd }));
    expect([...catalog.sources.keys()]).toEqual(['deploys']);
    expect([...catalog.views.views.keys()]).toEqual(['deploys_per_host']);
    expect(() => catalog.source('clickstream')).toThrow(/unknown source "clickstream"/);
  });

  it('names the view, the source it asked for and the known sources when a view is on an unknown source', async () => {
    const cwd = project({
      'sources/orders.ts': ordersModule,
      'views/typo.ts': viewModule("export const v = defineView({ name: 'orders_typo', source: 'ordres', window: tumbling('1d'), measures: { n: count() } });"),
    });
    const error = await catalogError(cwd);
    expect(error.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(error.message).toContain(path.join(cwd, 'views', 'typo.ts'));
    expect(error.message).toMatch(/view orders_typo: unknown source "ordres" \(known sources: clickstream, orders\)/);
  });

  it('refuses a source defined twice, naming both places', async () => {
    const cwd = project({
      'braid.config.yaml': readingsYaml,
      'sources/readings.ts': `import { defineSource } from ${JSON.stringify(sourcesModule)};
export const readings = defineSource({ name: 'readings', fields: { ts: { type: 'timestampMs' }, id: { type: 'string' } }, timeField: 'ts', keyFields: ['id'] });
`,
    });
    const error = await catalogError(cwd);
    expect(error.message).toBe(`source readings is defined twice: in braid.config.yaml: sources.readings and in ${path.join(cwd, 'sources', 'readings.ts')}`);
  });

  it('refuses settings for a source that does not exist, naming the key and the known sources', async () => {
    const cwd = project({ 'braid.config.yaml': 'sources:\n  ordres:\n    partitions: 2\n', 'sources/orders.ts': ordersModule });
    const error = await catalogError(cwd);
    expect(error.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(error.message).toMatch(/sources\.ordres: unknown source; known sources: clickstream, orders/);
  });

  it('names the file, the source and the field of a module source that does not validate', async () => {
    const cwd = project({
      'sources/bad.ts': `import { defineSource } from ${JSON.stringify(sourcesModule)};
export const bad = defineSource({ name: 'bad', fields: { ts: { type: 'timestampMs' }, n: { type: 'integer' } }, timeField: 'ts', keyFields: ['n'] } as never);
`,
    });
    const error = await catalogError(cwd);
    expect(error.message).toBe(`${path.join(cwd, 'sources', 'bad.ts')}: source bad: fields.n.type: expected one of string, int, float, bool, timestampMs`);
  });

  it('names the key of a config declaration that does not validate, with every problem', () => {
    const cwd = project({
      'braid.config.yaml': 'sources:\n  readings:\n    fields:\n      at: { type: timestampMs, nullable: true }\n      sensor: { type: string, unit: s }\n    timeField: at\n    keyFields: [sensor, site]\n',
    });
    let message = '';
    try {
      loadConfig({ env: {}, cwd });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('sources.readings (from braid.config.yaml): timeField: at must be a non-nullable timestampMs field');
    expect(message).toContain('sources.readings (from braid.config.yaml): keyFields: site is not one of its fields (at, sensor)');
    expect(message).toContain('sources.readings (from braid.config.yaml): fields.sensor.unit: only a timestampMs field has a unit');
  });
});
