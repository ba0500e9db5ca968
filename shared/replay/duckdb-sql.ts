/** DuckDB SQL quoting for names and paths that come from the user's file: nothing in them can change a statement. */

/** A string literal: `'it''s'`. */
export const sqlText = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** A quoted identifier, for any column name a file may have: `"a ""b"""`. */
export const sqlName = (name: string): string => `"${name.replaceAll('"', '""')}"`;
