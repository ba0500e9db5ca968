// The console's pages: views, a view's live chart and rows, sources, workflows.
import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, fieldNameOf, restQuery, subscribe } from './api.js';
import { TimeChart } from './chart.js';

// ---- small parts ----

/** Re-runs `load` every `everyMs` (and when `deps` change); returns { data, error }. */
function usePolled(load, deps, everyMs = 5_000) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let stopped = false;
    const controller = new AbortController();
    const run = () =>
      load(controller.signal).then(
        (data) => !stopped && setState({ data, error: null }),
        (error) => !stopped && error.name !== 'AbortError' && setState((previous) => ({ data: previous.data, error })),
      );
    run();
    const timer = everyMs ? setInterval(run, everyMs) : undefined;
    return () => {
      stopped = true;
      controller.abort();
      clearInterval(timer);
    };
  }, deps);
  return state;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert"><strong>${error.code ?? 'error'}</strong> ${error.message}</div>`;
}

function ago(ms) {
  if (ms === null || ms === undefined) return '–';
  const seconds = Math.round(ms / 1000);
  if (Math.abs(seconds) < 120) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (Math.abs(minutes) < 120) return `${minutes} min`;
  return `${(minutes / 60).toFixed(1)} h`;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const number = (value) => (typeof value === 'number' ? value.toLocaleString(undefined, { maximumFractionDigits: 3 }) : value === null || value === undefined ? '–' : String(value));

function Copyable({ text }) {
  const [copied, setCopied] = useState(false);
  const copy = () =>
    navigator.clipboard?.writeText(text).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  return html`<span class="copyable"><code>${text}</code> <button class="small" onClick=${copy} title="copy">${copied ? 'copied' : 'copy'}</button></span>`;
}

/** A measure the chart can draw: one number per row (not a top-k list). */
const chartable = (measure) => !/^topK\(/.test(measure.measure);

// ---- views ----

function freshnessCells(status) {
  if (!status) return html`<td colspan="4" class="muted">…</td>`;
  const { batch, speed } = status;
  return html`
    <td>${batch ? html`v${batch.version}` : html`<span class="muted">none</span>`}</td>
    <td>${batch ? html`${time(batch.cutoff)} <span class="muted">(${ago(batch.cutoffAgeMs)} ago)</span>` : '–'}</td>
    <td>${speed ? html`${time(speed.watermark)} <span class="muted">(lag ${ago(speed.watermarkLagMs)})</span>` : html`<span class="muted">not flushed</span>`}</td>
    <td>${status.partial ? html`<span class="badge warn" title=${status.reasons.join('\n')}>partial</span> <span class="reasons">${status.reasons.join('; ')}</span>` : html`<span class="badge ok">complete</span>`}</td>
  `;
}

export function ViewsPage() {
  const views = usePolled((signal) => api('/v1/views', { signal }), [], 0);
  const statuses = usePolled(
    async (signal) => {
      const list = views.data?.views ?? [];
      const entries = await Promise.all(list.map(async (view) => [view.name, await api(`/v1/views/${view.name}/status`, { signal }).catch(() => null)]));
      return Object.fromEntries(entries);
    },
    [views.data],
  );
  if (views.error) return html`<${ErrorBox} error=${views.error} />`;
  if (!views.data) return html`<p class="muted">Loading views…</p>`;
  return html`
    <h1>Views</h1>
    ${views.data.views.length === 0 ? html`<p class="muted">No views you may read.</p>` : null}
    <table class="views" data-testid="views-table">
      <thead>
        <tr><th>View</th><th>Source</th><th>Window</th><th>Dimensions</th><th>Measures</th><th>Batch</th><th>Cutoff</th><th>Speed watermark</th><th>Answers</th></tr>
      </thead>
      <tbody>
        ${views.data.views.map(
          (view) => html`
            <tr data-view=${view.name}>
              <td><a href=${`#/views/${view.name}`}>${view.name}</a><div class="muted small">${view.description ?? ''}</div></td>
              <td>${statuses.data?.[view.name]?.source ?? ''}</td>
              <td>${view.window}</td>
              <td>${view.dimensions.map((d) => d.name).join(', ')}</td>
              <td>${view.measures.map((m) => html`<div>${m.name} <span class="muted">${m.measure}</span></div>`)}</td>
              ${freshnessCells(statuses.data?.[view.name])}
            </tr>
            <tr class="examples"><td colspan="9">
              GraphQL <${Copyable} text=${`{ ${view.graphql}(last: "1h") { rows { windowStart ${view.dimensions.map((d) => d.name).join(' ')} ${view.measures.filter(chartable).map((m) => m.name).join(' ')} } } }`} />
              REST <${Copyable} text=${`${location.origin}${view.rest}?from=now-1h`} />
            </td></tr>
          `,
        )}
      </tbody>
    </table>
  `;
}

// ---- a view's page ----

const RANGES = [
  ['1h', 'now-1h'],
  ['6h', 'now-6h'],
  ['24h', 'now-24h'],
  ['custom', 'custom'],
];
const GRANULARITIES = ['auto', '1m', '5m', '15m', '1h', '1d'];

/** The granularity `auto` picks for a range: the view's own window for short ranges, coarser for long ones. */
function autoGranularity(rangeMs) {
  if (rangeMs <= 3 * 3_600_000) return undefined;
  if (rangeMs <= 26 * 3_600_000) return '10m';
  return '1h';
}

/** A GraphQL input value written as a literal (strings, numbers, lists, objects). */
function literal(value) {
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (value !== null && typeof value === 'object') return `{ ${Object.entries(value).map(([key, part]) => `${key}: ${literal(part)}`).join(', ')} }`;
  return JSON.stringify(value);
}

/** Rows of an answer as chart series: one per value of `split` (all rows summed per bucket when additive). */
function toSeries(rows, measure, split, additive) {
  const buckets = [...new Set(rows.map((row) => row.windowStart))].sort();
  const index = new Map(buckets.map((bucket, i) => [bucket, i]));
  const byLabel = new Map();
  for (const row of rows) {
    const label = split ? String(row[split]) : measure;
    let values = byLabel.get(label);
    if (!values) byLabel.set(label, (values = new Array(buckets.length).fill(null)));
    const i = index.get(row.windowStart);
    const value = typeof row[measure] === 'number' ? row[measure] : null;
    values[i] = values[i] === null ? value : additive ? values[i] + (value ?? 0) : Math.max(values[i], value ?? -Infinity);
  }
  // Buckets without rows are gaps in the lines, not straight lines across them: a null at each missing step.
  const starts = buckets.map((bucket) => Date.parse(bucket) / 1000);
  const step = Math.min(...starts.slice(1).map((start, i) => start - starts[i]));
  const xs = [];
  const at = [];
  starts.forEach((start, i) => {
    if (i > 0 && start - starts[i - 1] > step * 1.5) {
      xs.push(starts[i - 1] + step);
      at.push(-1);
    }
    xs.push(start);
    at.push(i);
  });
  const series = [...byLabel].map(([label, values]) => ({ label, values: at.map((i) => (i < 0 ? null : values[i])) }));
  return { xs, series };
}

export function ViewPage({ name }) {
  const views = usePolled((signal) => api('/v1/views', { signal }), [], 0);
  const view = views.data?.views.find((candidate) => candidate.name === name);
  if (views.error) return html`<${ErrorBox} error=${views.error} />`;
  if (!views.data) return html`<p class="muted">Loading…</p>`;
  if (!view) return html`<${ErrorBox} error=${{ code: 'NOT_FOUND', message: `no view named ${name} that you may read` }} />`;
  return html`<${ViewDetail} view=${view} />`;
}

function ViewDetail({ view }) {
  const measures = view.measures.filter(chartable);
  const [measure, setMeasure] = useState(measures[0]?.name ?? '');
  const [split, setSplit] = useState(view.dimensions[0]?.name ?? '');
  const [topN, setTopN] = useState(5);
  const [range, setRange] = useState('now-1h');
  const [custom, setCustom] = useState({ from: '', to: '' });
  const [granularity, setGranularity] = useState('auto');
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const [updates, setUpdates] = useState(0);
  const [values, setValues] = useState(null);

  const measureKind = view.measures.find((m) => m.name === measure)?.measure ?? '';
  const additive = /^(count|sum)\(/.test(measureKind);
  const from = range === 'custom' ? custom.from : range;
  const to = range === 'custom' ? custom.to : undefined;
  const rangeMs = range === 'custom' ? Date.parse(custom.to || new Date().toISOString()) - Date.parse(custom.from) : Number(range.slice(4, -1)) * 3_600_000;
  const bucket = granularity === 'auto' ? autoGranularity(rangeMs) : granularity;
  const ready = measure && (range !== 'custom' || (custom.from && !Number.isNaN(rangeMs)));

  // The top values of the split dimension over the range (by the measure), so the chart follows only those.
  useEffect(() => {
    setValues(null);
    if (!ready) return;
    if (!split) return setValues([]);
    const controller = new AbortController();
    const wholeRange = rangeMs <= 86_400_000 ? '1d' : '1mo';
    api(`/v1/views/${view.name}?${restQuery({ from, to, granularity: wholeRange, orderBy: `-${measure}`, limit: topN * 8 })}`, { signal: controller.signal }).then(
      (top) => setValues([...new Set(top.rows.map((row) => row[split]))].slice(0, topN)),
      (thrown) => thrown.name !== 'AbortError' && setError(thrown),
    );
    return () => controller.abort();
  }, [view.name, measure, split, topN, from, to, ready]);

  const where = split && values ? { [split]: values } : {};
  const restPath = ready && values ? `/v1/views/${view.name}?${restQuery({ from, to, granularity: bucket, where, limit: 10_000 })}` : null;

  // The answer, live: a subscription pushes it again after each speed-layer flush touching the view.
  useEffect(() => {
    setAnswer(null);
    setError(null);
    if (!ready || values === null || (split && values.length === 0)) return;
    const args = {
      ...(range === 'custom' ? { from: custom.from, ...(custom.to ? { to: custom.to } : {}) } : { last: range.slice(4) }),
      ...(bucket ? { granularity: bucket } : {}),
      ...(split ? { where: { [split]: { in: values } } } : {}),
      limit: 10_000,
    };
    const field = `${fieldNameOf(view.name)}Updated`;
    const query = `subscription { ${field}(${Object.entries(args).map(([key, value]) => `${key}: ${literal(value)}`).join(', ')}) {
      rows { windowStart ${view.dimensions.map((d) => d.name).join(' ')} ${measures.map((m) => m.name).join(' ')} }
      meta { batchVersion batchCutoff speedWatermark layers partial from to granularity missing { from to } }
    } }`;
    return subscribe(query, {}, {
      onData: (data) => {
        setAnswer(data[field]);
        setUpdates((count) => count + 1);
      },
      onError: setError,
    });
  }, [view.name, values, bucket, from, to, ready]);

  const chart = useMemo(() => (answer ? toSeries(answer.rows, measure, split, additive) : null), [answer, measure, split, additive]);
  const cutoff = answer?.meta.batchCutoff ? Date.parse(answer.meta.batchCutoff) / 1000 : null;
  const rows = useMemo(() => (answer ? [...answer.rows].sort((a, b) => (a.windowStart < b.windowStart ? 1 : a.windowStart > b.windowStart ? -1 : 0)) : []), [answer]);

  return html`
    <h1>${view.name} <span class="muted small">${view.window} · ${view.description ?? ''}</span></h1>
    <div class="controls">
      <label>Measure <select data-testid="measure" value=${measure} onChange=${(e) => setMeasure(e.target.value)}>
        ${measures.map((m) => html`<option value=${m.name}>${m.name}</option>`)}
      </select></label>
      ${view.dimensions.length > 0
        ? html`<label>Split by <select data-testid="split" value=${split} onChange=${(e) => setSplit(e.target.value)}>
            ${view.dimensions.map((d) => html`<option value=${d.name}>${d.name}</option>`)}
          </select></label>
          <label>Top <input type="number" min="1" max="20" value=${topN} onChange=${(e) => setTopN(Math.min(20, Math.max(1, Number(e.target.value) || 5)))} /></label>`
        : null}
      <span class="ranges" role="group" aria-label="range">
        ${RANGES.map(([label, value]) => html`<button class=${range === value ? 'active' : ''} data-range=${value} onClick=${() => setRange(value)}>${label}</button>`)}
      </span>
      ${range === 'custom'
        ? html`<label>From <input data-testid="from" placeholder="2026-12-01T00:00:00Z" value=${custom.from} onChange=${(e) => setCustom({ ...custom, from: e.target.value })} /></label>
            <label>To <input data-testid="to" placeholder="now" value=${custom.to} onChange=${(e) => setCustom({ ...custom, to: e.target.value })} /></label>`
        : null}
      <label>Granularity <select data-testid="granularity" value=${granularity} onChange=${(e) => setGranularity(e.target.value)}>
        ${GRANULARITIES.map((g) => html`<option value=${g}>${g}</option>`)}
      </select></label>
    </div>
    <${ErrorBox} error=${error} />
    ${split && values && values.length === 0 ? html`<p class="muted">No data in this range.</p>` : null}
    ${answer
      ? html`
          <p class="meta" data-testid="meta" data-updates=${updates}>
            ${answer.meta.layers.join(' + ') || 'no layer'} · batch ${answer.meta.batchVersion === null ? 'none' : `v${answer.meta.batchVersion}`}${' '}
            · cutoff ${time(answer.meta.batchCutoff)} · speed watermark ${time(answer.meta.speedWatermark)} · per ${answer.meta.granularity}${' '}
            ${answer.meta.partial ? html` · <span class="badge warn">partial</span> missing ${answer.meta.missing.map((m) => `${time(m.from)}–${time(m.to)}`).join(', ')}` : null}
            · <span class="muted">${updates} update${updates === 1 ? '' : 's'}</span>
          </p>
          ${!additive && view.dimensions.length > 1 ? html`<p class="muted small">${measure} is not additive: a value shown is the largest over the other dimensions.</p>` : null}
          <${TimeChart} xs=${chart.xs} series=${chart.series} cutoff=${cutoff} title=${`${measure}${split ? ` by ${split}` : ''}`} />
          <p class="small">Same rows by REST: <a data-testid="rest-link" href=${restPath} target="_blank">${restPath}</a></p>
          <table class="rows" data-testid="rows">
            <thead><tr><th>window start</th>${view.dimensions.map((d) => html`<th>${d.name}</th>`)}${measures.map((m) => html`<th class="num">${m.name}</th>`)}</tr></thead>
            <tbody>
              ${rows.slice(0, 500).map(
                (row) => html`<tr data-window=${row.windowStart}>
                  <td>${time(row.windowStart)}</td>
                  ${view.dimensions.map((d) => html`<td data-dimension=${d.name} data-value=${JSON.stringify(row[d.name])}>${String(row[d.name])}</td>`)}
                  ${measures.map((m) => html`<td class="num" data-measure=${m.name} data-value=${JSON.stringify(row[m.name])}>${number(row[m.name])}</td>`)}
                </tr>`,
              )}
            </tbody>
          </table>
          ${rows.length > 500 ? html`<p class="muted small">${rows.length - 500} more rows not shown.</p>` : null}
        `
      : ready && !error
        ? html`<p class="muted">Loading…</p>`
        : null}
    <${Versions} view=${view.name} />
  `;
}

function Versions({ view }) {
  const versions = usePolled((signal) => api(`/v1/views/${view}/versions`, { signal }), [view], 30_000);
  if (versions.error) return html`<${ErrorBox} error=${versions.error} />`;
  if (!versions.data) return null;
  return html`
    <h2>Batch versions</h2>
    ${versions.data.versions.length === 0 ? html`<p class="muted">None published yet.</p>` : null}
    <table class="versions" data-testid="versions">
      <thead><tr><th>Version</th><th>Cutoff</th><th>Created</th><th class="num">Rows</th><th class="num">Took</th><th>Mode</th></tr></thead>
      <tbody>
        ${versions.data.versions.slice(0, 20).map(
          (v) => html`<tr class=${v.version === versions.data.current ? 'current' : ''}>
            <td>v${v.version}${v.version === versions.data.current ? ' (live)' : ''}</td><td>${time(v.cutoff)}</td><td>${time(v.createdAt)}</td>
            <td class="num">${number(v.rowCount)}</td><td class="num">${number(v.durationMs)} ms</td><td>${v.mode}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  `;
}

// ---- sources ----

export function SourcesPage() {
  const sources = usePolled((signal) => api('/v1/sources', { signal }), []);
  if (sources.error && !sources.data) return html`<${ErrorBox} error=${sources.error} />`;
  if (!sources.data) return html`<p class="muted">Loading sources…</p>`;
  return html`
    <h1>Sources</h1>
    ${sources.data.sources.map((source) => html`<${Source} source=${source} />`)}
  `;
}

function Source({ source }) {
  const groups = source.partitions?.[0] ? Object.keys(source.partitions[0].lag) : [];
  return html`
    <section class="source" data-source=${source.name}>
      <h2>${source.name} <span class="muted small">topic ${source.topic} · views ${source.views.join(', ')}</span></h2>
      ${source.kafka.available
        ? html`
            <p>
              <span class="stat"><strong data-testid="rate">${number(source.eventsPerSecond)}</strong> events/s</span>
              <span class="stat"><strong>${number(source.late)}</strong> late (in ${source.topic}.late)</span>
              <span class="stat"><strong data-testid="dead-lettered">${number(source.deadLettered)}</strong> dead-lettered (in ${source.topic}.dlq)</span>
            </p>
            <table class="partitions">
              <thead><tr><th>Partition</th><th class="num">End offset</th>${groups.map((group) => html`<th class="num">lag ${group}</th>`)}</tr></thead>
              <tbody>
                ${source.partitions.map(
                  (p) => html`<tr><td>${p.partition}</td><td class="num">${number(p.endOffset)}</td>${groups.map((group) => html`<td class="num">${number(p.lag[group])}</td>`)}</tr>`,
                )}
              </tbody>
            </table>
          `
        : html`<p class="muted">Kafka offsets unavailable: ${source.kafka.error}</p>`}
      <h3>Recent dead letters</h3>
      ${source.recentDeadLetters.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table class="dead-letters" data-testid="dead-letters">
            <thead><tr><th>When</th><th>Partition</th><th class="num">Offset</th><th>Reason</th><th>Value</th></tr></thead>
            <tbody>
              ${source.recentDeadLetters.map(
                (d) => html`<tr><td>${time(d.at)}</td><td>${d.partition}</td><td class="num">${d.offset}</td><td>${d.reason}</td><td><code class="value">${d.value ?? 'null'}</code></td></tr>`,
              )}
            </tbody>
          </table>`}
    </section>
  `;
}

// ---- workflows ----

export function WorkflowsPage() {
  const workflows = usePolled((signal) => api('/v1/workflows', { signal }), []);
  if (workflows.error?.status === 404) return html`<h1>Workflows</h1><p class="muted">This server does not serve workflows.</p>`;
  if (workflows.error && !workflows.data) return html`<${ErrorBox} error=${workflows.error} />`;
  if (!workflows.data) return html`<p class="muted">Loading workflows…</p>`;
  return html`
    <h1>Workflows</h1>
    <table class="workflows" data-testid="workflows">
      <thead><tr><th>Workflow</th><th>Schedule</th><th>Last run</th><th>Next run</th><th class="num">Active</th><th class="num">Tasks</th></tr></thead>
      <tbody>
        ${workflows.data.workflows.map(
          (w) => html`<tr>
            <td><a href=${`#/workflows/${w.name}`}>${w.name}</a>${w.paused ? html` <span class="badge warn">paused</span>` : null}<div class="muted small">${w.description ?? ''}</div></td>
            <td>${w.schedule ?? 'manual'} <span class="muted small">${w.timeZone}</span></td>
            <td>${w.lastRun ? html`<span class=${`state ${w.lastRun.state}`}>${w.lastRun.state}</span> <span class="muted small">${time(w.lastRun.endedAt)}</span>` : '–'}</td>
            <td>${time(w.nextRunAt)}</td><td class="num">${w.activeRuns}</td><td class="num">${w.tasks}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  `;
}

export function WorkflowPage({ name, runId }) {
  const detail = usePolled((signal) => api(`/v1/workflows/${name}`, { signal }), [name], 0);
  const runs = usePolled((signal) => api(`/v1/workflows/${name}/runs?limit=20`, { signal }), [name]);
  const [message, setMessage] = useState(null);
  const act = (path, body) =>
    api(path, { method: 'POST', body }).then(
      (result) => setMessage({ code: 'OK', message: result.runId ? `created run ${result.runId}` : 'done' }),
      (error) => setMessage(error),
    );
  if (detail.error) return html`<${ErrorBox} error=${detail.error} />`;
  if (!detail.data) return html`<p class="muted">Loading…</p>`;
  const selected = runId ?? runs.data?.runs[0]?.id;
  return html`
    <h1>${name} <span class="muted small">${detail.data.schedule ?? 'manual'} · ${detail.data.timeZone}</span></h1>
    <p><button onClick=${() => act(`/v1/workflows/${name}/trigger`, {})}>Trigger a run</button></p>
    ${message ? (message.code === 'OK' ? html`<p class="ok">${message.message}</p>` : html`<${ErrorBox} error=${message} />`) : null}
    <div class="split">
      <div>
        <h2>Runs</h2>
        <table class="runs">
          <thead><tr><th>Run</th><th>Interval</th><th>State</th><th class="num">Took</th></tr></thead>
          <tbody>
            ${(runs.data?.runs ?? []).map(
              (run) => html`<tr class=${run.id === selected ? 'current' : ''}>
                <td><a href=${`#/workflows/${name}/runs/${encodeURIComponent(run.id)}`}>${run.id}</a></td>
                <td class="small">${time(run.interval.start)} – ${time(run.interval.end)}</td>
                <td><span class=${`state ${run.state}`}>${run.state}</span></td><td class="num">${run.durationMs === null ? '–' : `${number(run.durationMs)} ms`}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <div>${selected ? html`<${Run} workflow=${name} runId=${selected} tasks=${detail.data.taskList} onRetry=${(failedOnly) => act(`/v1/workflows/${name}/runs/${encodeURIComponent(selected)}/retry`, { failedOnly })} />` : null}</div>
    </div>
  `;
}

/** Tasks placed in columns by their depth in the DAG. */
function layout(tasks) {
  const depth = new Map();
  const depthOf = (id) => {
    if (!depth.has(id)) {
      const task = tasks.find((t) => t.id === id);
      depth.set(id, 0);
      depth.set(id, task && task.dependsOn.length ? 1 + Math.max(...task.dependsOn.map(depthOf)) : 0);
    }
    return depth.get(id);
  };
  const columns = [];
  for (const task of tasks) (columns[depthOf(task.id)] ??= []).push(task.id);
  const place = new Map();
  columns.forEach((ids, column) => ids.forEach((id, row) => place.set(id, { x: 10 + column * 200, y: 10 + row * 56 })));
  return { place, width: 20 + columns.length * 200, height: 20 + Math.max(1, ...columns.map((ids) => ids.length)) * 56 };
}

function Run({ workflow, runId, tasks, onRetry }) {
  const run = usePolled((signal) => api(`/v1/workflows/${workflow}/runs/${encodeURIComponent(runId)}?logTail=20`, { signal }), [workflow, runId], 3_000);
  const [task, setTask] = useState(null);
  if (run.error) return html`<${ErrorBox} error=${run.error} />`;
  if (!run.data) return html`<p class="muted">Loading run…</p>`;
  const states = new Map(run.data.tasks.map((t) => [t.id, t]));
  const { place, width, height } = layout(tasks);
  const shown = states.get(task) ?? null;
  return html`
    <h2>Run ${run.data.id} <span class=${`state ${run.data.state}`}>${run.data.state}</span></h2>
    <p>
      <button onClick=${() => onRetry(true)}>Retry failed tasks</button> <button onClick=${() => onRetry(false)}>Retry all</button>
    </p>
    <svg class="dag" width=${width} height=${height} data-testid="dag">
      ${tasks.flatMap((t) =>
        t.dependsOn.map((upstream) => {
          const a = place.get(upstream);
          const b = place.get(t.id);
          return html`<line x1=${a.x + 170} y1=${a.y + 20} x2=${b.x} y2=${b.y + 20} class="edge" />`;
        }),
      )}
      ${tasks.map((t) => {
        const p = place.get(t.id);
        const state = states.get(t.id);
        return html`<g class=${`task ${state?.state ?? 'pending'}`} transform=${`translate(${p.x},${p.y})`} onClick=${() => setTask(t.id)} data-task=${t.id}>
          <rect width="170" height="40" rx="6" />
          <text x="8" y="17">${t.id}</text>
          <text x="8" y="32" class="small">${state?.state ?? 'pending'}${state?.durationMs ? ` · ${number(state.durationMs)} ms` : ''}</text>
        </g>`;
      })}
    </svg>
    ${shown
      ? html`<div class="task-detail">
          <h3>${shown.id} <span class=${`state ${shown.state}`}>${shown.state}</span> <span class="muted small">attempt ${shown.attempt} · ${shown.worker ?? ''}</span></h3>
          ${shown.error ? html`<p class="error">${typeof shown.error === 'string' ? shown.error : JSON.stringify(shown.error)}</p>` : null}
          <pre class="log">${shown.log.map((line) => (typeof line === 'string' ? line : `${line.time ? new Date(line.time).toISOString() : ''} ${line.msg ?? ''} ${JSON.stringify(line)}`)).join('\n') || '(no log lines)'}</pre>
        </div>`
      : html`<p class="muted small">Click a task for its log.</p>`}
  `;
}
