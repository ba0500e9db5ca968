import { quotedIdentifier, quotedString } from '@duckdb/node-api';

/** DuckDB SQL quoting for the batch layer: DuckDB's own. */
export { quotedIdentifier as sqlIdentifier, quotedString as sqlLiteral };

/**
 * `read_parquet([...])` over these files, each once: columns matched by name (a file written before a field was
 * added reads it as NULL), and no columns made of folder names.
 */
export const readParquet = (files: Iterable<string>): string =>
  `read_parquet([${[...new Set(files)].map(quotedString).join(', ')}], union_by_name = true, hive_partitioning = false)`;
