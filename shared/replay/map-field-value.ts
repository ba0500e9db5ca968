import { BraidError, ErrorCode } from '../errors/index.ts';
import type { FieldType } from '../sources/index.ts';
import type { RowProblem } from './replay-row.ts';

/** A value read from a file as DuckDB hands it over once projected (see `planColumns`). */
export type FileValue = string | number | bigint | boolean | null | undefined;

export type MappedValue = { readonly ok: true; readonly value: string | number | boolean | null } | ({ readonly ok: false } & RowProblem);

const INTEGER_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE_TEXT = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE_TEXT = new Set(['false', 'f', 'no', 'n', '0']);

const ok = (value: string | number | boolean | null): MappedValue => ({ ok: true, value });

/** The value as it reads in a message, cut short: `"abc"`, `12`. */
function shown(value: FileValue): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

const notA = (field: string, value: FileValue, what: string): MappedValue => ({
  ok: false,
  reason: `${field}: ${shown(value)} is not ${what}`,
  group: `${field}: not ${what}`,
});

/** A JavaScript number for an integer, or a problem when a JSON number cannot hold it exactly. */
function exactInteger(field: string, value: bigint | number): MappedValue {
  if (typeof value === 'number' ? Number.isSafeInteger(value) : value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)) {
    return ok(Number(value));
  }
  return { ok: false, reason: `${field}: ${value} is beyond ±2^53, which a JSON number cannot hold exactly`, group: `${field}: integer beyond ±2^53` };
}

/** Decimal text as a number (`1.5`, `-2e3`), or undefined for anything else (hex, `NaN`, blanks). */
function decimal(text: string): number | undefined {
  const trimmed = text.trim();
  return DECIMAL_TEXT.test(trimmed) ? Number(trimmed) : undefined;
}

function toInt(field: string, value: FileValue): MappedValue {
  if (typeof value === 'bigint') return exactInteger(field, value);
  // A fraction goes on to the source, which rejects it in its own words.
  if (typeof value === 'number') return Number.isInteger(value) ? exactInteger(field, value) : ok(value);
  if (typeof value === 'string') {
    const text = value.trim();
    if (INTEGER_TEXT.test(text)) return exactInteger(field, BigInt(text));
    const number = decimal(text);
    return number !== undefined && Number.isInteger(number) ? exactInteger(field, number) : notA(field, value, 'an integer');
  }
  return notA(field, value, 'an integer');
}

function toFloat(field: string, value: FileValue): MappedValue {
  if (typeof value === 'number') return ok(value);
  if (typeof value === 'bigint') return ok(Number(value));
  if (typeof value === 'string') {
    const number = decimal(value);
    return number !== undefined && Number.isFinite(number) ? ok(number) : notA(field, value, 'a number');
  }
  return notA(field, value, 'a number');
}

function toBool(field: string, value: FileValue): MappedValue {
  if (typeof value === 'boolean') return ok(value);
  const text = typeof value === 'string' ? value.trim().toLowerCase() : String(value);
  if (TRUE_TEXT.has(text)) return ok(true);
  if (FALSE_TEXT.has(text)) return ok(false);
  return notA(field, value, 'true or false');
}

/**
 * An event time as the field takes numbers (epoch ms, or seconds for `unit: 's'`): a timestamp DuckDB parsed
 * (`parsedMs`, already in the field's unit), or a number (as a number or as digits).
 */
function toTimestampMs(field: string, value: FileValue, parsedMs: FileValue): MappedValue {
  if (typeof parsedMs === 'bigint') return exactInteger(field, parsedMs);
  if (typeof parsedMs === 'number') return ok(parsedMs);
  if (typeof value === 'bigint') return exactInteger(field, value);
  if (typeof value === 'number') return ok(value);
  if (typeof value === 'string' && INTEGER_TEXT.test(value.trim())) return exactInteger(field, BigInt(value.trim()));
  // Fractional epoch seconds; a fraction of a millisecond the source refuses in its own words.
  const number = typeof value === 'string' ? decimal(value) : undefined;
  if (number !== undefined && Number.isFinite(number)) return ok(number);
  return notA(field, value, 'a timestamp');
}

/**
 * Maps one value read from a file to what a source field of type `type`
 * takes: integers exactly (beyond ±2^53 is a problem, not a rounded number),
 * text parsed as the field's type (`"42"`, `"1.5"`, `"true"`), timestamps as
 * epoch ms. Null stays null: whether the field may be null is the source's to
 * say. `parsedMs` is DuckDB's reading of a text timestamp, when there is one.
 *
 * @example mapFieldValue('amount', 'float', '12.50') // { ok: true, value: 12.5 }
 * @example mapFieldValue('n', 'int', 9007199254740993n) // { ok: false, reason: 'n: 9007199254740993 is beyond ±2^53, …', group: 'n: integer beyond ±2^53' }
 */
export function mapFieldValue(field: string, type: FieldType, value: FileValue, parsedMs?: FileValue): MappedValue {
  if (value === null || value === undefined) return ok(null);
  switch (type) {
    case 'string':
      return ok(typeof value === 'string' ? value : String(value));
    case 'int':
      return toInt(field, value);
    case 'float':
      return toFloat(field, value);
    case 'bool':
      return toBool(field, value);
    case 'timestampMs':
      return toTimestampMs(field, value, parsedMs);
    default: {
      const unknown: never = type;
      throw new BraidError(ErrorCode.INTERNAL, `unknown field type ${String(unknown)}`);
    }
  }
}
