import { Bool, Field, Float64, Int64, List, makeBuilder, makeData, RecordBatch, Schema, Struct, Table, tableToIPC, Timestamp, TimeUnit, Utf8, type DataType } from 'apache-arrow';
import { assertNever } from '../../shared/errors/index.ts';
import type { EntryShape, OutputScalar } from '../../shared/measures/index.ts';
import type { View } from '../../shared/views/index.ts';
import type { ViewAnswer } from '../view-reader.ts';
import { answerColumns, type AnswerColumn, type ColumnEntry, type ColumnValue } from './answer-columns.ts';
import { freshnessHeaders } from './freshness-headers.ts';

/** The media type of an Arrow IPC stream (what `Accept` asks for). */
export const ARROW_STREAM_MEDIA_TYPE = 'application/vnd.apache.arrow.stream';

const ENTRY_FIELD_TYPES: Record<OutputScalar, () => DataType> = { string: () => new Utf8(), int: () => new Int64(), float: () => new Float64() };

/** The Arrow struct of an `entries` column's items. */
const entryStruct = (entry: EntryShape) => new Struct(entry.fields.map((field) => new Field(field.name, ENTRY_FIELD_TYPES[field.type](), false)));

function arrowType({ type, entry }: AnswerColumn): DataType {
  switch (type) {
    case 'timestamp':
      return new Timestamp(TimeUnit.MILLISECOND, 'UTC');
    case 'string':
      return new Utf8();
    case 'float':
      return new Float64();
    case 'int':
      return new Int64();
    case 'bool':
      return new Bool();
    case 'entries':
      return new List(new Field('item', entryStruct(entry!), false));
    default:
      return assertNever(type);
  }
}

/** A cell as the Arrow builder of its type takes it: Int64 wants a bigint, a millisecond timestamp a whole number. */
function arrowValue({ type, entry }: AnswerColumn, value: ColumnValue): unknown {
  if (value === null) return null;
  switch (type) {
    case 'timestamp':
      return Math.floor(value as number);
    case 'int':
      return BigInt(value as number);
    case 'entries':
      return (value as readonly ColumnEntry[]).map((item) =>
        Object.fromEntries(entry!.fields.map((field) => [field.name, field.type === 'int' ? BigInt(item[field.name] as number) : item[field.name]])),
      );
    case 'string':
    case 'float':
    case 'bool':
      return value;
    default:
      return assertNever(type);
  }
}

/**
 * The Arrow schema of `view`'s answers: `windowStart`/`windowEnd` as
 * `Timestamp(MILLISECOND, "UTC")`, dimensions by type (Utf8, Float64, Bool,
 * Timestamp), counts and distinct counts Int64, sums, minima, maxima and
 * averages nullable Float64, lists of entries `List<Struct<…>>` (top-k: `value: Utf8, count: Int64`).
 * `metadata` becomes the schema's custom metadata (default: none).
 *
 * @example
 * answerArrowSchema(pageViews).fields.map((field) => `${field.name}: ${field.type}`);
 * // ['windowStart: Timestamp<MILLISECOND, UTC>', …, 'views: Int64', 'visitors: Int64', 'revenue: Float64']
 */
export function answerArrowSchema(view: View, metadata: ReadonlyMap<string, string> = new Map()): Schema {
  return new Schema(
    answerColumns(view).map((column) => new Field(column.name, arrowType(column), column.nullable)),
    new Map(metadata),
  );
}

/**
 * An answer as an Arrow IPC stream (one record batch), its freshness
 * ({@link freshnessHeaders}) in the schema's metadata. Read it with
 * `tableFromIPC` (JS), `pyarrow.ipc.open_stream` or `arrow::ipc::RecordBatchStreamReader`.
 *
 * @example
 * const table = tableFromIPC(answerToArrow(pageViews, answer));
 * table.getChild('views')?.get(0); // 42n
 */
export function answerToArrow(view: View, answer: ViewAnswer): Uint8Array<ArrayBuffer> {
  const columns = answerColumns(view);
  const schema = answerArrowSchema(view, new Map(Object.entries(freshnessHeaders(answer.meta))));
  const children = columns.map((column, index) => {
    const builder = makeBuilder({ type: schema.fields[index]!.type, nullValues: [null] });
    for (const row of answer.rows) builder.append(arrowValue(column, column.value(row)));
    return builder.finish().flush();
  });
  // One record batch built from the schema itself, so an empty answer keeps its types too.
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: answer.rows.length, nullCount: 0, children }));
  // The writer concatenates into a new, unshared buffer.
  return tableToIPC(new Table(schema, batch), 'stream') as Uint8Array<ArrayBuffer>;
}
