/**
 * DuckDB SQL quoting for the whole of Braid: how names and literals are
 * written into a statement so that no name, path or value can change its
 * structure. Plain text functions with no DuckDB import, so code that only
 * builds SQL text (the view expressions' SQL face) does not load DuckDB.
 */

/**
 * An identifier (column, table, view), double-quoted so reserved words
 * (`"order"`) and any other name work: a `"` inside is doubled, as DuckDB's
 * own `quotedIdentifier` does.
 *
 * @example sqlIdentifier('url') // '"url"'
 */
export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
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
