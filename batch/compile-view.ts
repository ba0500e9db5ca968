import { compileSql, type View } from '../shared/views/index.ts';

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Floor of a BIGINT column to a multiple of `step` (exact integer arithmetic, also below zero). */
const floorTo = (column: string, step: number) => `(${column} - ((${column} % ${step}) + ${step}) % ${step})`;

export interface CompiledView {
  /** SELECT producing one row per window and group: window_start, window_end, dimensions, then measure state columns. */
  readonly sql: string;
  /** Per measure: the state columns the SQL returns, in order. */
  readonly stateColumns: ReadonlyArray<{ measure: string; columns: string[] }>;
}

/**
 * Compiles a view definition to DuckDB SQL over `source` (a FROM target such
 * as `read_parquet([...])`), keeping only windows that end at or before
 * `cutoffMs`. The batch twin of the speed layer's operators: the same window
 * rules (epoch-aligned `[start, end)`, sliding = size/slide windows per event,
 * sessions = events less than `gap` apart), the same filter and dimension
 * expressions (through their SQL face), and measure *state* out — sums, counts,
 * and for approxDistinct/topK the raw values the sketch is built from — so the
 * layers merge by the same monoids.
 */
export function compileView(view: View, source: string, cutoffMs: number): CompiledView {
  const time = quote(view.source.timeField);
  const dimensions = view.dimensions.map((dimension) => `${compileSql(dimension.expr)} AS ${quote(dimension.name)}`);
  const dimensionNames = view.dimensions.map((dimension) => quote(dimension.name));
  const where = view.filter ? `WHERE (${compileSql(view.filter)}) IS TRUE` : '';

  const stateColumns: Array<{ measure: string; columns: string[] }> = [];
  const aggregates: string[] = [];
  for (const { name, measure } of view.measures) {
    const column = measure.field === undefined ? '' : quote(measure.field);
    const state = (suffix: string) => quote(`${name}${suffix}`);
    switch (measure.kind) {
      case 'count':
        aggregates.push(`count(*) AS ${state('')}`);
        stateColumns.push({ measure: name, columns: [name] });
        break;
      case 'sum':
      case 'min':
      case 'max':
        aggregates.push(`${measure.kind}(${column})::DOUBLE AS ${state('')}`);
        stateColumns.push({ measure: name, columns: [name] });
        break;
      case 'avg':
        aggregates.push(`sum(${column})::DOUBLE AS ${state('.s')}`, `count(${column}) AS ${state('.c')}`);
        stateColumns.push({ measure: name, columns: [`${name}.s`, `${name}.c`] });
        break;
      case 'approxDistinct':
        // The sketch itself is Redis's HyperLogLog, built from these values (shared/measures/redis-hll.ts).
        aggregates.push(`list(DISTINCT CAST(${column} AS VARCHAR)) FILTER (WHERE ${column} IS NOT NULL) AS ${state('')}`);
        stateColumns.push({ measure: name, columns: [name] });
        break;
      case 'topK':
        aggregates.push(`histogram(CAST(${column} AS VARCHAR)) FILTER (WHERE ${column} IS NOT NULL) AS ${state('')}`);
        stateColumns.push({ measure: name, columns: [name] });
        break;
    }
  }
  const measureColumns = view.measures.flatMap(({ measure }) => (measure.field === undefined ? [] : [quote(measure.field)]));
  const carried = [...new Set(measureColumns)].join(', ');
  const base = `SELECT ${time} AS __t${dimensions.length ? `, ${dimensions.join(', ')}` : ''}${carried ? `, ${carried}` : ''} FROM ${source} ${where}`;
  const groupBy = ['window_start', 'window_end', ...dimensionNames].join(', ');
  const selectDims = dimensionNames.length ? `, ${dimensionNames.join(', ')}` : '';

  const paneable = view.measures.every(({ measure }) => ['count', 'sum', 'min', 'max', 'avg'].includes(measure.kind));
  if (view.window.type === 'sliding' && paneable) {
    // Aggregate each slide-sized pane once, then combine the size/slide panes of each window — the
    // same monoid merge the speed layer relies on, and far less work than expanding every event.
    const { sizeMs, slideMs } = view.window;
    const paneAggregates: string[] = [];
    const windowAggregates: string[] = [];
    for (const { name, measure } of view.measures) {
      const column = measure.field === undefined ? '' : quote(measure.field);
      const pane = (suffix: string) => quote(`__pane_${name}${suffix}`);
      const out = (suffix: string) => quote(`${name}${suffix}`);
      if (measure.kind === 'count') {
        paneAggregates.push(`count(*) AS ${pane('')}`);
        windowAggregates.push(`sum(${pane('')})::BIGINT AS ${out('')}`);
      } else if (measure.kind === 'avg') {
        paneAggregates.push(`sum(${column})::DOUBLE AS ${pane('.s')}`, `count(${column}) AS ${pane('.c')}`);
        windowAggregates.push(`sum(${pane('.s')})::DOUBLE AS ${out('.s')}`, `sum(${pane('.c')})::BIGINT AS ${out('.c')}`);
      } else {
        const combine = measure.kind === 'sum' ? 'sum' : measure.kind;
        paneAggregates.push(`${measure.kind}(${column})::DOUBLE AS ${pane('')}`);
        windowAggregates.push(`${combine}(${pane('')})::DOUBLE AS ${out('')}`);
      }
    }
    const paneGroup = ['__pane', ...dimensionNames].join(', ');
    const sql = `SELECT window_start, window_start + ${sizeMs} AS window_end${selectDims}, ${windowAggregates.join(', ')}
      FROM (SELECT *, UNNEST(generate_series(__pane - ${sizeMs - slideMs}, __pane, ${slideMs})) AS window_start
            FROM (SELECT ${floorTo('__t', slideMs)} AS __pane${selectDims}, ${paneAggregates.join(', ')} FROM (${base}) GROUP BY ${paneGroup}))
      GROUP BY ${groupBy}
      HAVING window_start + ${sizeMs} <= ${cutoffMs}
      ORDER BY ${groupBy}`;
    return { sql, stateColumns };
  }

  let windowed: string;
  if (view.window.type === 'tumbling') {
    const size = view.window.sizeMs;
    windowed = `SELECT *, ${floorTo('__t', size)} AS window_start, ${floorTo('__t', size)} + ${size} AS window_end FROM (${base})`;
  } else if (view.window.type === 'sliding') {
    const { sizeMs, slideMs } = view.window;
    windowed = `SELECT *, window_start, window_start + ${sizeMs} AS window_end FROM (SELECT *, UNNEST(generate_series(${floorTo('__t', slideMs)} - ${sizeMs - slideMs}, ${floorTo('__t', slideMs)}, ${slideMs})) AS window_start FROM (${base}))`;
  } else {
    // The running sum uses the default RANGE frame, so events with the same time are peers and share a
    // session id however the two window functions order them (a ROWS frame split ties across sessions).
    const gap = view.window.gapMs;
    const partitionBy = dimensionNames.join(', ') || '1';
    windowed = `SELECT *, min(__t) OVER (PARTITION BY ${partitionBy}, __session) AS window_start, max(__t) OVER (PARTITION BY ${partitionBy}, __session) + ${gap} AS window_end
      FROM (SELECT *, sum(__new) OVER (PARTITION BY ${partitionBy} ORDER BY __t) AS __session
            FROM (SELECT *, CASE WHEN __t - lag(__t) OVER (PARTITION BY ${partitionBy} ORDER BY __t) < ${gap} THEN 0 ELSE 1 END AS __new FROM (${base})))`;
  }
  const sql = `SELECT window_start, window_end${selectDims}, ${aggregates.join(', ')}
    FROM (${windowed})
    GROUP BY ${groupBy}
    HAVING max(window_end) <= ${cutoffMs}
    ORDER BY ${groupBy}`;
  return { sql, stateColumns };
}
