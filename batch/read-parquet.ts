import { sqlStringLiteral } from '../shared/sql/index.ts';

/**
 * `read_parquet([...])` over these files, each once, with no columns made of folder names; with `byName` (the
 * default), columns matched by name, so a file written before a field was added reads it as NULL.
 */
export const readParquet = (files: Iterable<string>, options: { byName?: boolean } = {}): string =>
  `read_parquet([${[...new Set(files)].map(sqlStringLiteral).join(', ')}]${options.byName === false ? '' : ', union_by_name = true'}, hive_partitioning = false)`;
