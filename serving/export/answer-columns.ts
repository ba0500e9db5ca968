import type { EntryShape } from '../../shared/measures/index.ts';
import type { View } from '../../shared/views/index.ts';
import type { ViewAnswer } from '../view-reader.ts';

/**
 * What a column of an exported answer holds; each encoder (Arrow, CSV,
 * Parquet) maps these six and nothing else, so their schemas agree:
 * `timestamp` is an instant (epoch ms here, Arrow `Timestamp(ms, UTC)`,
 * Parquet `TIMESTAMP WITH TIME ZONE`, ISO-8601 in CSV), `int` a whole number
 * (Int64), `float` a double, `entries` a list of records shaped by the
 * column's `entry` (topK's `{ value, count }`, quantiles' `{ quantile, value }`).
 */
export type ColumnType = 'timestamp' | 'string' | 'float' | 'int' | 'bool' | 'entries';

/** One record of an `entries` cell, by field name. */
export type ColumnEntry = Readonly<Record<string, string | number>>;

/** A cell: epoch ms for `timestamp`, a number, text, a boolean or a list of entries; null for none. */
export type ColumnValue = number | string | boolean | readonly ColumnEntry[] | null;

export interface AnswerColumn {
  /** As in the JSON rows: `windowStart`, `windowEnd`, then the dimensions and measures by their names. */
  readonly name: string;
  readonly type: ColumnType;
  /** The shape of each entry of an `entries` column. */
  readonly entry?: EntryShape;
  /** Window bounds, counts, distinct counts and lists always have a value (as in the GraphQL schema). */
  readonly nullable: boolean;
  /** This column's cell of one of the answer's rows. */
  value(row: ViewAnswer['rows'][number]): ColumnValue;
}

/** A raw cell as its column's type says (batch and speed agree on types; this also turns a stray bigint into a number). */
function typed(type: ColumnType, raw: unknown): ColumnValue {
  if (raw === null || raw === undefined) return null;
  switch (type) {
    case 'timestamp':
    case 'float':
    case 'int':
      return Number(raw);
    case 'string':
      return String(raw);
    case 'bool':
      return Boolean(raw);
    case 'entries':
      return raw as readonly ColumnEntry[];
    default:
      throw new Error(`unknown column type: ${String(type satisfies never)}`);
  }
}

/**
 * The columns of `view`'s answers, in the order of the JSON rows and the CSV
 * of `braid query`: window bounds, dimensions, measures.
 *
 * @example
 * answerColumns(pageViews).map((column) => `${column.name}: ${column.type}`);
 * // ['windowStart: timestamp', 'windowEnd: timestamp', 'url: string', 'views: int', 'visitors: int', 'revenue: float']
 */
export function answerColumns(view: View): AnswerColumn[] {
  const columns: AnswerColumn[] = [
    { name: 'windowStart', type: 'timestamp', nullable: false, value: (row) => row.windowStart },
    { name: 'windowEnd', type: 'timestamp', nullable: false, value: (row) => row.windowEnd },
  ];
  for (const dimension of view.dimensions) {
    const type = dimensionColumnType(dimension.type);
    columns.push({ name: dimension.name, type, nullable: true, value: (row) => typed(type, row.dimensions[dimension.name]) });
  }
  for (const { name, measure } of view.measures) {
    const type = measure.output.type;
    const entry = measure.output.type === 'entries' ? { entry: measure.output.entry } : {};
    // sum/min/max/avg over no values is null, as in SQL.
    columns.push({ name, type, ...entry, nullable: type === 'float', value: (row) => typed(type, row.measures[name]) });
  }
  return columns;
}

function dimensionColumnType(type: View['dimensions'][number]['type']): ColumnType {
  switch (type) {
    case 'string':
      return 'string';
    case 'number':
      return 'float';
    case 'bool':
      return 'bool';
    case 'timestamp':
      return 'timestamp';
    default:
      throw new Error(`unknown dimension type: ${String(type satisfies never)}`);
  }
}
