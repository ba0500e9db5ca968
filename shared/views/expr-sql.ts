import { BraidError, ErrorCode } from '../errors/index.ts';

/**
 * The SQL face's quoting: how names and literals are written into DuckDB SQL
 * so that no field name or literal can change a statement's structure.
 */

/** Field (column) names Braid accepts, as for sources' fields. */
export const FIELD_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

/**
 * A column reference, double-quoted so reserved words (`"order"`) work. The
 * name is checked rather than escaped: a name that needs escaping is a bug.
 *
 * @example quoteIdentifier('url') // '"url"'
 */
export function quoteIdentifier(name: string): string {
  if (typeof name !== 'string' || !FIELD_NAME_PATTERN.test(name)) {
    throw new BraidError(ErrorCode.CONFIG_INVALID, `field name ${JSON.stringify(name)} must match [a-z][a-z0-9_]*`, {
      fields: { field: name },
    });
  }
  return `"${name}"`;
}

/**
 * A VARCHAR literal. Quotes are doubled (standard SQL; DuckDB reads
 * backslashes literally). DuckDB's parser stops at a NUL character, so NULs
 * are spliced in with `chr(0)`.
 *
 * @example sqlStringLiteral("O'Brien") // "'O''Brien'"
 */
export function sqlStringLiteral(text: string): string {
  const quote = (part: string) => `'${part.replaceAll("'", "''")}'`;
  if (!text.includes('\u0000')) return quote(text);
  return `(${text.split('\u0000').map(quote).join(' || chr(0) || ')})`;
}

/**
 * A numeric literal typed so DuckDB computes as JS does: safe integers as
 * BIGINT (a bare `3` would be INTEGER, which overflows at 2^31 where JS does
 * not), everything else as DOUBLE parsed from JS's shortest round-trip text
 * (a bare `0.1` would be DECIMAL, exact where JS rounds).
 *
 * @example sqlNumberLiteral(0.1) // "CAST('0.1' AS DOUBLE)"
 */
export function sqlNumberLiteral(value: number): string {
  if (Number.isSafeInteger(value)) return `CAST(${value} AS BIGINT)`;
  return `CAST('${String(value)}' AS DOUBLE)`;
}
