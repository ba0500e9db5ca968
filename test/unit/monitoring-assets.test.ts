import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const REPO = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');

interface ComposeService {
  image?: string;
  volumes?: string[];
  ports?: string[];
  environment?: Record<string, string>;
}

const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const dashboard = JSON.parse(read('infra/grafana/dashboards/braid.json')) as {
  panels: Array<{ type: string; title: string; datasource?: { uid?: string }; targets?: Array<{ expr: string; datasource?: { uid?: string } }> }>;
  templating: { list: Array<{ name: string; definition: string; datasource?: { uid?: string } }> };
};
const datasources = YAML.parse(read('infra/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string; type: string; url: string }> };
const providers = YAML.parse(read('infra/grafana/provisioning/dashboards/braid.yml')) as { providers: Array<{ options: { path: string } }> };

/** A service's bind mounts: host path (relative to the repository) → path in the container. */
function mounts(service: ComposeService): Map<string, string> {
  return new Map((service.volumes ?? []).filter((volume) => volume.startsWith('./')).map((volume) => [volume.split(':')[0]!, volume.split(':')[1]!]));
}

/** Every metric name Braid's code registers (`name: 'braid_…'`). */
function registeredMetricNames(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith('.ts')) for (const [, name] of read(relative).matchAll(/name: '(braid_\w+)'/g)) names.add(name!);
    }
  };
  for (const layer of ['speed', 'batch', 'serving', 'workflows', 'shared', 'cli']) walk(layer);
  return names;
}

/** The braid_* metric names a PromQL text uses, histogram series suffixes taken off. */
function metricNamesIn(text: string): string[] {
  return [...new Set([...text.matchAll(/\bbraid_\w+/g)].map(([name]) => name.replace(/_(bucket|count|sum)$/, '')))];
}

describe('docker-compose.yml: Prometheus and Grafana', () => {
  it('mounts files that exist', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const source of mounts(service).keys()) expect(existsSync(path.join(REPO, source)), `${name}: ${source}`).toBe(true);
    }
  });

  it('gives Prometheus its alert rules beside its configuration, where rule_files finds them', () => {
    const prometheus = mounts(compose.services.prometheus!);
    const config = YAML.parse(read('infra/prometheus/prometheus.yml')) as { rule_files: string[] };
    const configDir = path.posix.dirname(prometheus.get('./infra/prometheus/prometheus.yml')!);
    for (const file of config.rule_files) expect(prometheus.get(`./infra/prometheus/${file}`)).toBe(path.posix.join(configDir, file));
  });

  it("runs Grafana from the official image on port 3000, provisioned from infra/grafana, reaching the Compose stack's Prometheus", () => {
    const grafana = compose.services.grafana!;
    expect(grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(grafana.ports).toContain('127.0.0.1:3000:3000');
    const grafanaMounts = mounts(grafana);
    expect(grafanaMounts.get('./infra/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    expect(providers.providers.map((provider) => provider.options.path)).toEqual([grafanaMounts.get('./infra/grafana/dashboards')]);
    expect(grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${grafanaMounts.get('./infra/grafana/dashboards')}/braid.json`);
    const prometheusPort = compose.services.prometheus!.ports![0]!.split(':').at(-1);
    expect(datasources.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: `http://prometheus:${prometheusPort}` })]);
  });
});

describe('the Braid dashboard and alert rules', () => {
  it("reads the provisioned datasource in every panel, query and variable", () => {
    const uid = datasources.datasources[0]!.uid;
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(panels.length).toBeGreaterThan(20);
    for (const panel of panels) {
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe(uid);
    }
    for (const variable of dashboard.templating.list) expect(variable.datasource?.uid, variable.name).toBe(uid);
  });

  it('uses only metrics that Braid registers (a misspelt name would show nothing, or never fire)', () => {
    const registered = registeredMetricNames();
    expect(registered.size).toBeGreaterThan(30);
    const used = {
      dashboard: metricNamesIn([...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)), ...dashboard.templating.list.map((variable) => variable.definition)].join('\n')),
      'alerts.yml': metricNamesIn(read('infra/prometheus/alerts.yml')),
      'alerts.test.yml': metricNamesIn(read('infra/prometheus/alerts.test.yml')),
    };
    for (const [where, names] of Object.entries(used)) {
      expect(names.length, where).toBeGreaterThan(3);
      expect(names.filter((name) => !registered.has(name)), where).toEqual([]);
    }
  });
});
