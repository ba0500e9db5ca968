import type { Dimension } from '../shared/views/index.ts';
import { compileJs } from '../shared/views/index.ts';
import { FIELD_SEPARATOR } from '../shared/speed-contract/index.ts';

const NULL_MARK = '\u0000';

export type DimensionValue = string | number | boolean | null;

function encodePart(value: unknown): string {
  return value === null || value === undefined ? NULL_MARK : String(value);
}

/**
 * Compiles a view's dimensions into one function from an event to its group
 * key: dimension values as text joined by \x1f (null as \0). One plain field —
 * the common case — takes a fast path with no closures in between.
 */
export function compileGroupKey(dimensions: readonly Dimension[]): (event: Record<string, unknown>) => string {
  if (dimensions.length === 0) return () => '';
  if (dimensions.length === 1 && dimensions[0]!.field !== undefined) {
    const field = dimensions[0]!.field;
    return (event) => encodePart(event[field]);
  }
  const parts = dimensions.map((dimension) => compileJs(dimension.expr));
  return (event) => parts.map((part) => encodePart(part(event))).join(FIELD_SEPARATOR);
}

/** The group key of given dimension values (the inverse of {@link decodeGroupKey}). */
export function encodeGroupKey(dimensions: readonly Dimension[], values: Readonly<Record<string, DimensionValue>>): string {
  return dimensions.map((dimension) => encodePart(values[dimension.name])).join(FIELD_SEPARATOR);
}

/** The dimension values of a group key, typed as the dimensions are. */
export function decodeGroupKey(dimensions: readonly Dimension[], groupKey: string): Record<string, DimensionValue> {
  const values: Record<string, DimensionValue> = {};
  if (dimensions.length === 0) return values;
  const parts = dimensions.length === 1 ? [groupKey] : groupKey.split(FIELD_SEPARATOR);
  dimensions.forEach((dimension, index) => {
    const text = parts[index] ?? NULL_MARK;
    values[dimension.name] =
      text === NULL_MARK
        ? null
        : dimension.type === 'number' || dimension.type === 'timestamp'
          ? Number(text)
          : dimension.type === 'bool'
            ? text === 'true'
            : text;
  });
  return values;
}
