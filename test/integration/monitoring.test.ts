import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { braidEntryPoint, deleteTopics, runBraid, tempDir, testEnv, testKafka, testRedis, uniqueName, waitFor } from '../harness/index.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const PROMETHEUS_CONFIG = path.join(REPO, 'infra/prometheus/prometheus.yml');
const ALERT_RULES = path.join(REPO, 'infra/prometheus/alerts.yml');
const DASHBOARD = path.join(REPO, 'infra/grafana/dashboards/braid.json');
const WORKFLOWS = fileURLToPath(new URL('./fixtures/monitoring', import.meta.url));

/** Grafana's own variables in the dashboard's queries, as Grafana would fill them in over the last few minutes. */
const GRAFANA_VARIABLES: Record<string, string> = { __rate_interval: '30s', __interval: '30s', __range: '5m' };

interface DashboardQuery {
  readonly panel: string;
  readonly expr: string;
}

interface PanelJson {
  type: string;
  title: string;
  targets?: Array<{ expr?: string }>;
  panels?: PanelJson[];
}

interface DashboardJson {
  panels: PanelJson[];
  templating: { list: Array<{ name: string; definition: string }> };
}

/** Every query of every panel of the dashboard (rows' nested panels too), with the template variables matching everything. */
function dashboardQueries(dashboard: DashboardJson): DashboardQuery[] {
  const templateVariables = new Set(dashboard.templating.list.map((variable) => variable.name));
  const fill = (expr: string, panel: string) =>
    expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (_match, braced?: string, plain?: string, bracketed?: string) => {
      const name = (braced ?? plain ?? bracketed)!;
      if (GRAFANA_VARIABLES[name] !== undefined) return GRAFANA_VARIABLES[name];
      if (templateVariables.has(name)) return '.*';
      throw new Error(`panel "${panel}" uses $${name}, which is neither a Grafana variable nor one of the dashboard's`);
    });
  const panels = (list: PanelJson[]): PanelJson[] => list.flatMap((panel) => [panel, ...panels(panel.panels ?? [])]);
  return panels(dashboard.panels)
    .filter((panel) => panel.type !== 'row')
    .flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: fill(target.expr ?? '', panel.title) })));
}

/** A port nothing listened on a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** Processes started and not yet exited: killed after the file, so a test that times out leaves none running. */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Started {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.once('error', (error) => (output += `\n${name}: ${error.message}`));
  return { name, child, output: () => output, exited };
}

/** Stops a process with SIGINT (a Braid process then flushes and exits) or SIGTERM, killing it if it lingers. */
async function stop(started: Started, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return;
  started.child.kill(signal);
  const timer = setTimeout(() => started.child.kill('SIGKILL'), 20_000);
  await started.exited;
  clearTimeout(timer);
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function prometheusApi<T>(base: string, pathAndQuery: string): Promise<T> {
  const response = await fetch(`${base}${pathAndQuery}`);
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error ?? response.status}`);
  return body.data;
}

async function instantQuery(base: string, expr: string): Promise<PromSample[]> {
  const data = await prometheusApi<{ resultType: string; result: PromSample[] }>(base, `/api/v1/query?query=${encodeURIComponent(expr)}`);
  return data.resultType === 'vector' ? data.result : [];
}

const finite = (sample: PromSample) => Number.isFinite(Number(sample.value[1]));

describe('Prometheus and the Grafana dashboard against a running Braid', () => {
  it("scrapes every process of prometheus.yml, loads the alert rules, and every dashboard query answers with data from Braid's own metrics", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as DashboardJson;
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(20);

    await using redis = testRedis();
    using dir = tempDir('braid-monitoring-');
    const topic = uniqueName('monitoring-clicks');
    const configFile = path.join(dir.path, 'braid.config.yaml');
    writeFileSync(
      configFile,
      YAML.stringify({
        kafka: { clientId: uniqueName('monitoring') },
        redis: { keyPrefix: redis.prefix },
        dataDir: path.join(dir.path, 'data'),
        archive: { flushIntervalMs: '1s' },
        speed: { warmUpEvents: 2_000 },
        serving: { port: 0 },
        workflows: { dir: WORKFLOWS },
        sources: { clickstream: { topic, partitions: 2 } },
      }),
    );
    const env = testEnv({ BRAID_LOG_LEVEL: 'warn', BRAID_METRICS_PORT: '0' });
    const braid = (name: string, args: string[], extraEnv: Record<string, string> = {}) =>
      start(name, process.execPath, [braidEntryPoint, '--config', configFile, ...args], { ...env, ...extraEnv });
    // The processes of the Compose stack, one per job of prometheus.yml. The generator makes 2 % of its messages
    // malformed and 2 % late by 30–60 min (too late for every window), so dead letters and late events happen.
    const processes: Record<string, Started> = {
      'braid-producer': braid('producer', ['produce', 'clickstream', '--rate', '100', '--disorder', '2s', '--late-fraction', '0.02', '--bad-fraction', '0.02'], {
        // Its metrics URL is in its start-up log line.
        BRAID_LOG_LEVEL: 'info',
      }),
      'braid-speed': braid('speed', ['speed']),
      'braid-archiver': braid('archiver', ['archive']),
      'braid-scheduler': braid('scheduler', ['scheduler']),
      'braid-worker': braid('worker', ['worker', '--concurrency', '2']),
      'braid-server': braid('server', ['serve', '--dev']),
    };
    let prometheus: Started | undefined;
    const everything = () => [...Object.values(processes), ...(prometheus ? [prometheus] : [])];
    const outputs = () => everything().map((started) => `--- ${started.name}:\n${started.output().slice(-3_000)}`).join('\n');
    try {
      // Each process prints (or logs) where its metrics are.
      const metricsPorts: Record<string, number> = {};
      for (const [job, started] of Object.entries(processes)) {
        const url = await waitFor(
          () => {
            if (started.child.exitCode !== null) throw new Error(`${started.name} exited with ${started.child.exitCode}`);
            return /http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(started.output())?.[1];
          },
          { timeoutMs: 120_000, intervalMs: 200, what: `${started.name}'s metrics URL` },
        ).catch((error: Error) => {
          throw new Error(`${error.message}\n${outputs()}`);
        });
        metricsPorts[job] = Number(url);
      }
      const serverUrl = /serving \d+ views on (http:\/\/\S+)/.exec(processes['braid-server']!.output())![1]!;

      // Prometheus with the repository's configuration and rules, each job pointed at the process's real port.
      const webPort = await freePort();
      const config = YAML.parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
        global: Record<string, string>;
        rule_files: string[];
        scrape_configs: Array<{ job_name: string; static_configs?: unknown; dns_sd_configs?: unknown }>;
      };
      config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
      expect(config.rule_files).toEqual(['alerts.yml']);
      config.rule_files = [ALERT_RULES];
      const ports: Record<string, number> = { ...metricsPorts, prometheus: webPort };
      for (const job of config.scrape_configs) {
        expect(ports[job.job_name], `a process for job ${job.job_name}`).toBeDefined();
        delete job.dns_sd_configs;
        job.static_configs = [{ targets: [`127.0.0.1:${ports[job.job_name]}`] }];
      }
      expect(config.scrape_configs.map((job) => job.job_name).sort()).toEqual(Object.keys(ports).sort());
      const prometheusDir = path.join(dir.path, 'prometheus');
      mkdirSync(prometheusDir);
      writeFileSync(path.join(prometheusDir, 'prometheus.yml'), YAML.stringify(config));
      prometheus = start('prometheus', 'prometheus', [
        `--config.file=${path.join(prometheusDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(prometheusDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
        '--log.level=warn',
      ]);
      const base = `http://127.0.0.1:${webPort}`;
      await waitFor(
        async () => {
          if (prometheus!.child.exitCode !== null) throw new Error(`prometheus exited with ${prometheus!.child.exitCode}`);
          return (await fetch(`${base}/-/ready`)).ok;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'Prometheus ready' },
      ).catch((error: Error) => {
        throw new Error(`${error.message} (the Debian package prometheus provides it; .ci/run installs it)\n${outputs()}`);
      });

      // Every target up.
      await waitFor(
        async () => {
          const { activeTargets } = await prometheusApi<{ activeTargets: Array<{ labels: { job: string }; health: string; lastError: string }> }>(base, '/api/v1/targets');
          const down = activeTargets.filter((target) => target.health !== 'up').map((target) => `${target.labels.job}: ${target.health} ${target.lastError}`);
          if (down.length > 0 || activeTargets.length !== config.scrape_configs.length) throw new Error(down.join('; ') || `${activeTargets.length} targets`);
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 500, what: 'every target up' },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${outputs()}`);
      });

      // Make the workflows' metrics happen: once data is archived, Braid's recompute of an hour whose data is
      // complete (it publishes a batch version of each view), and a run of a workflow whose second task fails.
      await waitFor(async () => (await instantQuery(base, 'sum(braid_archive_files_total) > 0')).length > 0, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'archived files',
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${outputs()}`);
      });
      const hourMs = 3_600_000;
      const intervalStart = new Date(Math.floor(Date.now() / hourMs) * hourMs - 2 * hourMs);
      const failingStart = new Date(intervalStart.getTime() + hourMs);
      const [recompute, failing] = await Promise.all([
        runBraid(['--config', configFile, 'dag', 'trigger', 'recompute', '--interval-start', intervalStart.toISOString(), '--wait'], { env, timeoutMs: 120_000 }),
        runBraid(['--config', configFile, 'dag', 'trigger', 'always_fails', '--interval-start', failingStart.toISOString(), '--interval-end', new Date(failingStart.getTime() + hourMs).toISOString(), '--wait'], {
          env,
          timeoutMs: 120_000,
        }),
      ]);
      expect(recompute.code, recompute.stdout + recompute.stderr).toBe(0);
      expect(failing.code, failing.stdout + failing.stderr).not.toBe(0);
      expect(failing.stdout + failing.stderr).toMatch(/the load always fails/);

      // Serving traffic: reads, and mistakes answered 4xx.
      const traffic = setInterval(() => {
        for (const url of ['/v1/views/page_views?from=now-10m', '/v1/views/page_views?from=yesterday-ish', '/v1/views/no_such_view', '/v1/views']) {
          fetch(`${serverUrl}${url}`)
            .then((response) => response.arrayBuffer())
            .catch(() => undefined);
        }
      }, 500);
      try {
        // What the test made happen is there, not only zeros.
        const happened = [
          'sum by (source) (braid_speed_dead_lettered_total) > 0',
          'sum by (view) (braid_speed_late_events_total) > 0',
          'braid_workflow_runs_total{workflow="always_fails", state="failed"} > 0',
          'braid_workflow_runs_total{workflow="recompute", state="success"} > 0',
          'braid_batch_version{view="page_views"} > 0',
          'sum by (status) (braid_serving_requests_total{status=~"4.."}) > 0',
        ];
        // Every panel's query answers with at least one number (a quantile of no observations is NaN, not data).
        const checks = [...queries.map((query) => ({ what: `panel "${query.panel}": ${query.expr}`, expr: query.expr })), ...happened.map((expr) => ({ what: expr, expr }))];
        let unanswered: string[] = [];
        await waitFor(
          async () => {
            const results = await Promise.all(checks.map(async (check) => ({ check, samples: await instantQuery(base, check.expr) })));
            unanswered = results.filter(({ samples }) => !samples.some(finite)).map(({ check, samples }) => `${check.what} → ${JSON.stringify(samples).slice(0, 200)}`);
            return unanswered.length === 0;
          },
          { timeoutMs: 90_000, intervalMs: 2_000, what: 'every dashboard query to answer' },
        ).catch((error: Error) => {
          throw new Error(`${error.message}:\n${unanswered.join('\n')}\n${outputs()}`);
        });
        // The template variables' values (Grafana's label_values(metric, label)).
        for (const variable of dashboard.templating.list) {
          const [, metric, label] = /^label_values\((\w+), *(\w+)\)$/.exec(variable.definition)!;
          const values = await prometheusApi<string[]>(base, `/api/v1/label/${label}/values?match[]=${encodeURIComponent(metric!)}`);
          expect(values.length, variable.name).toBeGreaterThan(0);
        }
      } finally {
        clearInterval(traffic);
      }

      // The alert rules load and evaluate against the real series; the failed run fires its alert.
      const { groups } = await prometheusApi<{ groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> }>(base, '/api/v1/rules');
      const rules = groups.flatMap((group) => group.rules);
      expect(rules.length).toBe(10);
      expect(rules.filter((rule) => rule.health !== 'ok').map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ''}`)).toEqual([]);
      await waitFor(
        async () => {
          const { alerts } = await prometheusApi<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(base, '/api/v1/alerts');
          return alerts.some((alert) => alert.labels.alertname === 'BraidWorkflowRunFailed' && alert.labels.workflow === 'always_fails' && alert.state === 'firing');
        },
        { timeoutMs: 15_000, intervalMs: 500, what: 'BraidWorkflowRunFailed firing for always_fails' },
      );
    } finally {
      await Promise.all(everything().map((started) => stop(started, started === prometheus ? 'SIGTERM' : 'SIGINT')));
      await deleteTopics(testKafka(), [topic, `${topic}.dlq`, `${topic}.late`]);
    }
    for (const [job, started] of Object.entries(processes)) expect(await started.exited, `${job}:\n${started.output()}`).toBe(0);
  }, 420_000);
});
