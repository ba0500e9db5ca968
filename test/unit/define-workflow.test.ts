import { describe, expect, it } from 'vitest';
import { BraidError } from '../../shared/errors/index.ts';
import { command, compact, defineWorkflow, parseSchedule, recompute, retryDelayMs, sql, task, waitForData, type TaskSpec } from '../../workflows/index.ts';

const noop = () => null;
const definitionError = (spec: Parameters<typeof defineWorkflow>[0]): string => {
  try {
    defineWorkflow(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(BraidError);
    return (error as BraidError).message;
  }
  throw new Error('expected the definition to be refused');
};

describe('defineWorkflow', () => {
  it('orders tasks so every task follows its upstream tasks, and lists downstream tasks', () => {
    const workflow = defineWorkflow({
      name: 'shop',
      schedule: '0 2 * * *',
      timeZone: 'America/New_York',
      tasks: [
        task({ id: 'report', dependsOn: ['revenue', 'customers'], run: noop }),
        sql({ id: 'revenue', dependsOn: ['ready'], output: 'daily_revenue', query: 'SELECT 1' }),
        sql({ id: 'customers', dependsOn: ['ready'], output: 'daily_customers', query: 'SELECT 2' }),
        waitForData('orders', { id: 'ready' }),
      ],
    });
    expect(workflow.tasks.map((t) => t.id)).toEqual(['ready', 'revenue', 'customers', 'report']);
    expect(workflow.downstream).toEqual({ ready: ['revenue', 'customers'], revenue: ['report'], customers: ['report'], report: [] });
    expect(workflow.tasks.find((t) => t.id === 'revenue')).toMatchObject({ pool: 'duckdb', trigger: 'all_success', retries: 0, timeoutMs: 3_600_000 });
  });

  it('names the workflow, the task and the problem', () => {
    const base = (tasks: TaskSpec[]) => ({ name: 'wf', tasks });
    expect(definitionError(base([task({ id: 'a', dependsOn: ['b'], run: noop }), task({ id: 'b', dependsOn: ['c'], run: noop }), task({ id: 'c', dependsOn: ['a'], run: noop })]))).toMatch(
      /^workflow wf: the dependencies form a cycle: (a → c → b → a|b → a → c → b|c → b → a → c)$/,
    );
    expect(definitionError(base([task({ id: 'a', dependsOn: ['nope'], run: noop })]))).toBe('workflow wf, task a: dependsOn: unknown task nope (tasks: a)');
    expect(definitionError(base([task({ id: 'a', run: noop }), task({ id: 'a', run: noop })]))).toBe('workflow wf, task a: the id is used twice');
    expect(definitionError(base([task({ id: 'a', dependsOn: ['a'], run: noop })]))).toBe('workflow wf, task a: a task cannot depend on itself');
    expect(definitionError(base([task({ id: 'a', trigger: 'sometimes' as never, run: noop })]))).toMatch(/^workflow wf, task a: trigger must be one of all_success, all_done, one_failed, none_failed, one_success/);
    expect(definitionError(base([task({ id: 'a', timeout: 'soon', run: noop })]))).toMatch(/^workflow wf, task a: timeout: expected a duration/);
    expect(definitionError(base([command({ id: 'a', argv: [] })]))).toMatch(/^workflow wf, task a: command needs a program/);
    expect(definitionError({ name: 'wf', schedule: '61 * * * *', tasks: [task({ id: 'a', run: noop })] })).toMatch(/^workflow wf: schedule "61 \* \* \* \*": .*59/);
    expect(definitionError({ name: 'wf', timeZone: 'Mars/Olympus', tasks: [task({ id: 'a', run: noop })] })).toMatch(/^workflow wf: timeZone: unknown time zone "Mars\/Olympus"/);
    expect(definitionError({ name: 'Bad-Name', tasks: [task({ id: 'a', run: noop })] })).toMatch(/name must match/);
    expect(definitionError({ name: 'wf', tasks: [] })).toMatch(/declare at least one task/);
  });

  it('gives built-in tasks ids and pools of their own', () => {
    expect(recompute('page_views')).toMatchObject({ id: 'recompute_page_views', pool: 'duckdb', action: { kind: 'recompute', view: 'page_views' } });
    expect(compact('orders', { dependsOn: ['x'] })).toMatchObject({ id: 'compact_orders', dependsOn: ['x'], action: { kind: 'compact', source: 'orders' } });
    expect(waitForData('orders', { lateness: '1m', pokeInterval: '10s' })).toMatchObject({ id: 'wait_for_orders', action: { latenessMs: 60_000, pokeIntervalMs: 10_000 } });
  });

  it('changes its definition hash with the graph and the settings, not with the name of a JS variable', () => {
    const a = defineWorkflow({ name: 'wf', tasks: [task({ id: 'a', run: noop }), task({ id: 'b', dependsOn: ['a'], run: noop })] });
    const same = defineWorkflow({ name: 'wf', tasks: [task({ id: 'a', run: noop }), task({ id: 'b', dependsOn: ['a'], run: noop })] });
    const other = defineWorkflow({ name: 'wf', tasks: [task({ id: 'a', run: noop }), task({ id: 'b', run: noop })] });
    expect(same.definitionHash).toBe(a.definitionHash);
    expect(other.definitionHash).not.toBe(a.definitionHash);
  });
});

describe('schedules', () => {
  it('cut time into intervals between firings, in the schedule\'s zone, across DST changes', () => {
    const daily = parseSchedule('0 2 * * *', 'America/New_York');
    // 2026-03-08: clocks go forward; 2026-11-01: they go back.
    const march = daily.intervalsBetween(Date.parse('2026-03-07T07:00:00Z'), Date.parse('2026-03-10T07:00:00Z'));
    expect(march.map((interval) => [new Date(interval.startMs).toISOString(), (interval.endMs - interval.startMs) / 3_600_000])).toEqual([
      // 02:00 does not exist on the 8th: that firing comes at 03:00 EDT (07:00Z), so the next interval is 23 hours.
      ['2026-03-07T07:00:00.000Z', 24],
      ['2026-03-08T07:00:00.000Z', 23],
      ['2026-03-09T06:00:00.000Z', 24],
    ]);
    const november = daily.intervalsBetween(Date.parse('2026-10-31T06:00:00Z'), Date.parse('2026-11-02T07:00:00Z'));
    expect(november.map((interval) => (interval.endMs - interval.startMs) / 3_600_000)).toEqual([25, 24]);
    expect(daily.latestComplete(Date.parse('2026-11-02T12:00:00Z'))).toEqual({ startMs: Date.parse('2026-11-01T07:00:00Z'), endMs: Date.parse('2026-11-02T07:00:00Z') });
  });

  it('find the interval starting at a firing, and only at a firing', () => {
    const hourly = parseSchedule('@hourly', 'UTC');
    expect(hourly.intervalStartingAt(Date.parse('2026-01-01T05:00:00Z'))).toEqual({ startMs: Date.parse('2026-01-01T05:00:00Z'), endMs: Date.parse('2026-01-01T06:00:00Z') });
    expect(hourly.intervalStartingAt(Date.parse('2026-01-01T05:30:00Z'))).toBeUndefined();
    // Catchup after three hours down: the three missed intervals, oldest first.
    expect(hourly.intervalsBetween(Date.parse('2026-01-01T05:00:00Z'), Date.parse('2026-01-01T08:30:00Z')).map((i) => new Date(i.startMs).getUTCHours())).toEqual([5, 6, 7]);
  });
});

describe('retry delays', () => {
  it('double per attempt, with up to 20 % jitter', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(1_000, attempt, () => 0))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(retryDelayMs(1_000, 3, () => 0.999)).toBe(4_799);
  });
});
