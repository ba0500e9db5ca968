/** DuckDB SQL quoting, in one place for the batch layer. */

/** A string literal: `'it''s'`. */
export const sqlLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** A quoted identifier: `"a ""b"""`. */
export const sqlIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * `read_parquet([...])` over these files, each once: columns matched by name (a file written before a field was
 * added reads it as NULL), and no columns made of folder names.
 */
export const readParquet = (files: Iterable<string>): string =>
  `read_parquet([${[...new Set(files)].map(sqlLiteral).join(', ')}], union_by_name = true, hive_partitioning = false)`;
