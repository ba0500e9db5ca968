import { BraidError, ErrorCode } from '../errors/index.ts';
import type { FieldSpec, FieldType, Source } from '../sources/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../sql/index.ts';

/** A column of a CSV or Parquet file, as DuckDB reads it. */
export interface FileColumn {
  readonly name: string;
  /** The DuckDB type it is read as, e.g. `BIGINT`, `TIMESTAMP WITH TIME ZONE`, `DECIMAL(10,2)`. CSV columns are read as `VARCHAR`. */
  readonly type: string;
  /** The strptime format DuckDB's sniffer found for a text column of dates or timestamps (CSV), e.g. `%d/%m/%Y`. */
  readonly timeFormat?: string;
}

/** How one source field is read: the SQL that selects it (its value, and for text timestamps DuckDB's reading as epoch ms). */
export interface FieldPlan {
  readonly field: string;
  readonly type: FieldType;
  readonly selects: readonly string[];
}

export interface ColumnPlan {
  /** The source fields the file has, in source order. */
  readonly fields: readonly FieldPlan[];
  /** File columns the source lacks: not read. */
  readonly ignoredColumns: readonly string[];
  /** Nullable source fields the file lacks: null in every event. */
  readonly absentFields: readonly string[];
}

/** What a DuckDB column type holds, as far as filling a source field goes. */
type ColumnKind = 'text' | 'integer' | 'fraction' | 'bool' | 'time' | 'other';

const KIND_OF_TYPE: Readonly<Record<string, ColumnKind>> = {
  VARCHAR: 'text',
  TINYINT: 'integer',
  SMALLINT: 'integer',
  INTEGER: 'integer',
  BIGINT: 'integer',
  HUGEINT: 'integer',
  UTINYINT: 'integer',
  USMALLINT: 'integer',
  UINTEGER: 'integer',
  UBIGINT: 'integer',
  UHUGEINT: 'integer',
  DECIMAL: 'fraction',
  FLOAT: 'fraction',
  DOUBLE: 'fraction',
  BOOLEAN: 'bool',
  DATE: 'time',
  TIMESTAMP: 'time',
  TIMESTAMP_S: 'time',
  TIMESTAMP_MS: 'time',
  TIMESTAMP_NS: 'time',
  TIMESTAMPTZ: 'time',
  'TIMESTAMP WITH TIME ZONE': 'time',
};

function kindOf(type: string): ColumnKind {
  return KIND_OF_TYPE[type.replace(/\(.*$/s, '').trim().toUpperCase()] ?? 'other';
}

/**
 * An instant as the field takes numbers: epoch ms, or epoch seconds (a DOUBLE, fractions kept) for a field
 * declared with `unit: 's'`.
 */
function inFieldUnit(epochMs: string, spec: FieldSpec): string {
  return spec.unit === 's' ? `(${epochMs} / 1000.0)` : epochMs;
}

/** DuckDB's reading of a text timestamp as epoch ms (null when it is none): the sniffed format first, then ISO-8601 (UTC unless an offset is given). */
function parsedTextTimestamp(column: string, format: string | undefined): string {
  const iso = `epoch_ms(TRY_CAST(${column} AS TIMESTAMPTZ))`;
  return format ? `coalesce(epoch_ms(try_strptime(${column}, ${sqlStringLiteral(format)})), ${iso})` : iso;
}

/** The SQL selecting a column for a field of `type`, or undefined when the column's type cannot fill it. */
function selectsFor(spec: FieldSpec, column: FileColumn): string[] | undefined {
  const name = sqlIdentifier(column.name);
  const kind = kindOf(column.type);
  const type = spec.type;
  switch (type) {
    case 'string':
      return [kind === 'text' ? name : `CAST(${name} AS VARCHAR)`];
    case 'int':
      if (kind === 'integer' || kind === 'text') return [name];
      return kind === 'fraction' ? [`CAST(${name} AS DOUBLE)`] : undefined;
    case 'float':
      if (kind === 'integer' || kind === 'fraction') return [`CAST(${name} AS DOUBLE)`];
      return kind === 'text' ? [name] : undefined;
    case 'bool':
      return kind === 'bool' || kind === 'integer' || kind === 'text' ? [name] : undefined;
    case 'timestampMs':
      // TIMESTAMP without a zone and DATE are taken as UTC (a DATE is its midnight).
      if (kind === 'time') return [inFieldUnit(`epoch_ms(${name})`, spec)];
      if (kind === 'integer') return [name];
      if (kind === 'fraction') return [`CAST(${name} AS DOUBLE)`];
      return kind === 'text' ? [name, inFieldUnit(parsedTextTimestamp(name, column.timeFormat), spec)] : undefined;
    default: {
      const unknown: never = type;
      throw new BraidError(ErrorCode.INTERNAL, `unknown field type ${String(unknown)}`);
    }
  }
}

/**
 * Matches a file's columns to a source's fields by name and decides how each
 * is read. Fails before anything is read when the file cannot fill the
 * source: a non-nullable field without a column, or a column whose type
 * cannot become the field's (a BOOLEAN column for a timestampMs field).
 *
 * @example
 * planColumns(clickstream, [{ name: 'ts', type: 'TIMESTAMP' }, …], 'events.parquet').fields[0]
 * // { field: 'ts', type: 'timestampMs', selects: ['epoch_ms("ts")'] }
 */
export function planColumns(source: Source, columns: readonly FileColumn[], file: string): ColumnPlan {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const fields: FieldPlan[] = [];
  const absentFields: string[] = [];
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [field, spec] of Object.entries(source.fields)) {
    const column = byName.get(field);
    if (!column) {
      (spec.nullable ? absentFields : missing).push(field);
      continue;
    }
    const selects = selectsFor(spec, column);
    if (selects) fields.push({ field, type: spec.type, selects });
    else mismatched.push(`column ${field} is ${column.type}, which cannot fill the ${spec.type} field ${field}`);
  }
  if (missing.length > 0) {
    throw new BraidError(
      ErrorCode.BAD_ARGUMENT,
      `${file} has no column for ${missing.length === 1 ? 'field' : 'fields'} ${missing.join(', ')} of source ${source.name}, which ${missing.length === 1 ? 'is' : 'are'} not nullable`,
      { fields: { file, source: source.name, missing }, hint: `columns in the file: ${columns.map((column) => column.name).join(', ') || 'none'}` },
    );
  }
  if (mismatched.length > 0) {
    throw new BraidError(ErrorCode.BAD_ARGUMENT, `${file}: ${mismatched.join('; ')} (source ${source.name})`, { fields: { file, source: source.name } });
  }
  const ignoredColumns = columns.map((column) => column.name).filter((name) => !Object.hasOwn(source.fields, name));
  return { fields, ignoredColumns, absentFields };
}
