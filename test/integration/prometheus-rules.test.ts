import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const PROMETHEUS_DIR = path.resolve(import.meta.dirname, '../../infra/prometheus');
const execFileAsync = promisify(execFile);

/** Runs Prometheus's promtool (Debian's `prometheus` package) and returns its exit code and output. */
async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('promtool', args, { cwd: PROMETHEUS_DIR, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { code: number | string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') throw new Error('promtool is not installed: it comes with the Debian package prometheus (.ci/run installs it)');
    return { code: Number(failed.code), output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe("infra/prometheus: Braid's Prometheus configuration and alert rules (promtool)", () => {
  it('alerts.yml is a valid rule file', async () => {
    const { code, output } = await promtool(['check', 'rules', 'alerts.yml']);
    expect(output).toMatch(/SUCCESS: 10 rules found/);
    expect(code, output).toBe(0);
  });

  it("alerts.test.yml's unit tests pass: each alert fires when it should and stays quiet when it should not", async () => {
    const { code, output } = await promtool(['test', 'rules', 'alerts.test.yml']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/SUCCESS/);
  });

  it('every alert has a unit test where it fires and one where it does not', () => {
    const rules = YAML.parse(readFileSync(path.join(PROMETHEUS_DIR, 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string }> }> };
    const tests = YAML.parse(readFileSync(path.join(PROMETHEUS_DIR, 'alerts.test.yml'), 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    };
    const alerts = rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    const firing = new Set(cases.filter((test) => (test.exp_alerts ?? []).length > 0).map((test) => test.alertname));
    const quiet = new Set(cases.filter((test) => (test.exp_alerts ?? []).length === 0).map((test) => test.alertname));
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.filter((alert) => !firing.has(alert)), 'alerts without a case where they fire').toEqual([]);
    expect(alerts.filter((alert) => !quiet.has(alert)), 'alerts without a case where they stay quiet').toEqual([]);
  });

  it('prometheus.yml is a valid configuration that loads alerts.yml', async () => {
    const { code, output } = await promtool(['check', 'config', 'prometheus.yml']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/SUCCESS: 1 rule files found/);
    expect(output).toMatch(/SUCCESS: prometheus\.yml is valid prometheus config file syntax/);
  });
});
