import { stringify } from 'csv-stringify/sync';
import type { View } from '../../shared/views/index.ts';
import type { ViewAnswer } from '../view-reader.ts';
import { answerColumns, type ColumnType, type ColumnValue } from './answer-columns.ts';

/** The media type of the CSV answer (what `Accept` asks for). */
export const CSV_MEDIA_TYPE = 'text/csv';

function csvCell(type: ColumnType, value: ColumnValue): string {
  if (value === null) return '';
  switch (type) {
    case 'timestamp':
      return new Date(value as number).toISOString();
    case 'entries':
      return JSON.stringify(value);
    case 'string':
    case 'float':
    case 'int':
    case 'bool':
      return String(value);
    default:
      throw new Error(`unknown column type: ${String(type satisfies never)}`);
  }
}

/**
 * An answer as text cells, as the CSV has them: the column names, then one
 * array per row. Times are ISO-8601, a list of entries its JSON text, a null an
 * empty cell. `braid query --format table` prints these.
 *
 * @example
 * answerTextRows(pageViews, answer);
 * // [['windowStart', 'windowEnd', 'url', 'views', 'visitors', 'revenue'],
 * //  ['2026-05-01T00:00:00.000Z', '2026-05-01T00:01:00.000Z', '/cart', '42', '17', '']]
 */
export function answerTextRows(view: View, answer: ViewAnswer): string[][] {
  const columns = answerColumns(view);
  return [columns.map((column) => column.name), ...answer.rows.map((row) => columns.map((column) => csvCell(column.type, column.value(row))))];
}

/**
 * An answer as CSV (RFC 4180, `\n` line ends): a header row of the column
 * names, then one line per row, cells as {@link answerTextRows} gives them.
 *
 * @example
 * answerToCsv(pageViews, answer);
 * // windowStart,windowEnd,url,views,visitors,revenue
 * // 2026-05-01T00:00:00.000Z,2026-05-01T00:01:00.000Z,/cart,42,17,99.5
 */
export function answerToCsv(view: View, answer: ViewAnswer): string {
  return stringify(answerTextRows(view, answer));
}
