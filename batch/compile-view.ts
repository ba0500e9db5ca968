import { sqlIdentifier } from '../shared/sql/index.ts';
import { compileSql, windowStartsFor, type View } from '../shared/views/index.ts';
import { floorTo, tumblingKeySql, tumblingWindowsSql } from './window-sql.ts';

/**
 * The values an approxDistinct measure counts and the table that must hold
 * each value's Redis HyperLogLog position (register × 64 + value) before the
 * view's SQL runs: SQL cannot compute Redis's MurmurHash64A, so the caller
 * hashes the distinct values (`redisHllPosition`) and fills the table.
 */
export interface PositionTable {
  /** Temporary table `(__v VARCHAR, __pos INTEGER)` the view's SQL joins. */
  readonly table: string;
  /** SELECT of the distinct values (as text, column `__v`) to hash. */
  readonly valuesSql: string;
}

export interface CompiledView {
  /**
   * SELECT producing the stored rows of a batch view: `window_start`,
   * `window_end` (BIGINT), the dimensions (typed), then one typed
   * `state_<measure>` column per measure (see {@link compileView}), so the
   * result can be COPY'd straight to Parquet.
   */
  readonly sql: string;
  /** Tables to fill before running `sql` (one per field counted by approxDistinct). */
  readonly positionTables: readonly PositionTable[];
}

export interface CompileOptions {
  /** Read only events whose time is in one of these ranges (epoch ms, both ends included): an incremental run's reach. */
  readonly eventTimeRanges?: ReadonlyArray<readonly [number, number]>;
}

/** The Parquet type a dimension is stored as. */
function dimensionType(type: View['dimensions'][number]['type']): string {
  return type === 'string' ? 'VARCHAR' : type === 'bool' ? 'BOOLEAN' : type === 'timestamp' ? 'BIGINT' : 'DOUBLE';
}

/**
 * Compiles a view definition to DuckDB SQL over `source` (a FROM target such
 * as `read_parquet([...])`), keeping only windows that end at or before
 * `cutoffMs`. The batch twin of the speed layer's operators: the same window
 * rules (epoch-aligned `[start, end)` or a time zone's calendar units, sliding = size/slide windows per event,
 * sessions = events less than `gap` apart), the same filter and dimension
 * expressions (through their SQL face), and each measure's mergeable *state*
 * out as a typed column built by the measure's batch face, so the layers merge
 * by the same monoids and the Parquet stays plain to query (count BIGINT; sum,
 * min, max DOUBLE; avg STRUCT(sum DOUBLE, count BIGINT); approxDistinct the
 * INTEGER[] of its values' Redis HyperLogLog positions; topK
 * MAP(VARCHAR, BIGINT); …: see each measure in shared/measures/).
 *
 * @example
 * const { sql, positionTables } = compileView(pageViews, "read_parquet(['a.parquet'])", cutoffMs);
 * // fill positionTables, then: COPY (${sql}) TO 'data.parquet' (FORMAT parquet)
 */
export function compileView(view: View, source: string, cutoffMs: number, options: CompileOptions = {}): CompiledView {
  const time = sqlIdentifier(view.source.timeField);
  const dimensions = view.dimensions.map((dimension) => `${compileSql(dimension.expr)} AS ${sqlIdentifier(dimension.name)}`);
  const dimensionNames = view.dimensions.map((dimension) => sqlIdentifier(dimension.name));
  const inRanges = options.eventTimeRanges?.map(([from, to]) => `(${time} >= ${from} AND ${time} <= ${to})`).join(' OR ');
  const filter = [view.filter ? `(${compileSql(view.filter)}) IS TRUE` : '', inRanges ? `(${inRanges})` : ''].filter(Boolean).join(' AND ');

  // approxDistinct: one position table per counted field, joined to the events.
  const positionTables: PositionTable[] = [];
  const positionColumn = new Map<string, string>();
  const positionSelects: string[] = [];
  const joins: string[] = [];
  for (const { measure } of view.measures) {
    if (measure.batch.input !== 'hllPosition' || measure.field === undefined || positionColumn.has(measure.field)) continue;
    const index = positionTables.length;
    const table = `__hll_positions_${index}`;
    const field = sqlIdentifier(measure.field);
    positionTables.push({
      table,
      valuesSql: `SELECT DISTINCT CAST(${field} AS VARCHAR) AS __v FROM ${source} WHERE ${field} IS NOT NULL${filter ? ` AND ${filter}` : ''}`,
    });
    positionColumn.set(measure.field, `__pos_${index}`);
    positionSelects.push(`__h${index}.__pos AS __pos_${index}`);
    joins.push(`LEFT JOIN ${table} AS __h${index} ON CAST(__events.${field} AS VARCHAR) = __h${index}.__v`);
  }

  // Raw aggregates per measure (inner query), and the state column each becomes (outer query).
  const aggregates: string[] = [];
  const states: string[] = [];
  // Raw columns a measure rewrites before its state is made (`prepare`), as SELECT * REPLACE items.
  const prepared: string[] = [];
  for (const { name, measure } of view.measures) {
    const face = measure.batch;
    const input = measure.field === undefined ? '' : face.input === 'hllPosition' ? positionColumn.get(measure.field)! : sqlIdentifier(measure.field);
    const raw = (suffix: string) => sqlIdentifier(`__raw_${name}${suffix}`);
    for (const [suffix, sql] of face.aggregates(input)) {
      aggregates.push(`${sql} AS ${raw(suffix)}`);
      if (face.prepare) prepared.push(`${face.prepare(raw(suffix))} AS ${raw(suffix)}`);
    }
    states.push(`${face.state(raw)} AS ${sqlIdentifier(`state_${name}`)}`);
  }
  const measureColumns = view.measures.flatMap(({ measure }) =>
    measure.field === undefined || measure.batch.input !== 'value' ? [] : [`__events.${sqlIdentifier(measure.field)}`],
  );
  const carried = [...new Set(measureColumns), ...positionSelects];
  const base =
    `SELECT __events.${time} AS __t${dimensions.length ? `, ${dimensions.join(', ')}` : ''}${carried.length ? `, ${carried.join(', ')}` : ''} ` +
    `FROM ${source} AS __events ${joins.join(' ')} ${filter ? `WHERE ${filter}` : ''}`;
  const selectDims = dimensionNames.length ? `, ${dimensionNames.join(', ')}` : '';
  const fixedGroup = ['__window_start', ...dimensionNames].join(', ');
  /**
   * The stored rows: the inner query's windows, dimensions and measure state as typed columns, in time
   * order so Parquet's row-group statistics let a reader skip what its range leaves out (readers order
   * rows themselves, so sorting by more than time would only cost).
   */
  const stored = (inner: string, windowEnd: string) =>
    `SELECT __window_start::BIGINT AS window_start, (${windowEnd})::BIGINT AS window_end${view.dimensions
      .map((dimension) => `, CAST(${sqlIdentifier(dimension.name)} AS ${dimensionType(dimension.type)}) AS ${sqlIdentifier(dimension.name)}`)
      .join('')}, ${states.join(', ')}
    FROM (${prepared.length === 0 ? inner : `SELECT * REPLACE (${prepared.join(', ')}) FROM (${inner})`})
    ORDER BY __window_start`;

  const paneable = view.measures.every(({ measure }) => measure.batch.combinePanes !== undefined && measure.batch.input === 'value');
  if (view.window.type === 'sliding' && paneable) {
    // Aggregate each slide-sized pane once, then combine the size/slide panes of each window — the
    // same monoid merge the speed layer relies on, and far less work than expanding every event.
    const { sizeMs, slideMs } = view.window;
    const paneAggregates: string[] = [];
    const windowAggregates: string[] = [];
    for (const { name, measure } of view.measures) {
      const input = measure.field === undefined ? '' : sqlIdentifier(measure.field);
      const pane = (suffix: string) => sqlIdentifier(`__pane_${name}${suffix}`);
      const out = (suffix: string) => sqlIdentifier(`__raw_${name}${suffix}`);
      for (const [suffix, sql] of measure.batch.aggregates(input)) paneAggregates.push(`${sql} AS ${pane(suffix)}`);
      for (const [suffix, sql] of measure.batch.combinePanes!(pane)) windowAggregates.push(`${sql} AS ${out(suffix)}`);
    }
    const paneGroup = ['__pane', ...dimensionNames].join(', ');
    // A window ends at or before the cutoff when its start is at most cutoff − size.
    const inner = `SELECT __window_start${selectDims}, ${windowAggregates.join(', ')}
      FROM (SELECT *, UNNEST(generate_series(__pane - ${sizeMs - slideMs}, __pane, ${slideMs})) AS __window_start
            FROM (SELECT ${floorTo('__t', slideMs)} AS __pane${selectDims}, ${paneAggregates.join(', ')} FROM (${base}) GROUP BY ${paneGroup}))
      WHERE __window_start <= ${cutoffMs - sizeMs}
      GROUP BY ${fixedGroup}`;
    return { sql: stored(inner, `__window_start + ${sizeMs}`), positionTables };
  }

  if (view.window.type === 'tumbling') {
    // Its window ends at or before the cutoff exactly when an event is before the start of the window holding
    // the cutoff (window ends are window starts), so the filter comes before the aggregation, where Parquet
    // statistics can skip whole row groups.
    const inner = `SELECT ${tumblingKeySql(view.window, '__t')} AS __window_start${selectDims}, ${aggregates.join(', ')}
      FROM (${base}) WHERE __t < ${windowStartsFor(view.window, cutoffMs)[0]!}
      GROUP BY ${fixedGroup}`;
    const windows = tumblingWindowsSql(view.window, inner);
    return { sql: stored(windows.sql, windows.end), positionTables };
  }
  if (view.window.type === 'sliding') {
    const { sizeMs, slideMs } = view.window;
    const inner = `SELECT __window_start${selectDims}, ${aggregates.join(', ')}
      FROM (SELECT *, UNNEST(generate_series(${floorTo('__t', slideMs)} - ${sizeMs - slideMs}, ${floorTo('__t', slideMs)}, ${slideMs})) AS __window_start FROM (${base}))
      WHERE __window_start <= ${cutoffMs - sizeMs}
      GROUP BY ${fixedGroup}`;
    return { sql: stored(inner, `__window_start + ${sizeMs}`), positionTables };
  }
  // Sessions: a new session where the time since the key's previous event is at least the gap; the
  // running sum of those starts numbers each key's sessions. The default RANGE frame makes events with
  // the same time peers, so they share a session id however the window functions order them (a ROWS
  // frame split ties across sessions).
  const gap = view.window.gapMs;
  const partitionBy = dimensionNames.join(', ') || '1';
  const inner = `SELECT min(__t) AS __window_start, max(__t) AS __last${selectDims}, ${aggregates.join(', ')}
    FROM (SELECT *, sum(__new) OVER (PARTITION BY ${partitionBy} ORDER BY __t) AS __session
          FROM (SELECT *, CASE WHEN __t - lag(__t) OVER (PARTITION BY ${partitionBy} ORDER BY __t) < ${gap} THEN 0 ELSE 1 END AS __new FROM (${base})))
    GROUP BY ${[...dimensionNames, '__session'].join(', ')}
    HAVING max(__t) + ${gap} <= ${cutoffMs}`;
  return { sql: stored(inner, `__last + ${gap}`), positionTables };
}
