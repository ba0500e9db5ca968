import type { DuckDBConnection } from '@duckdb/node-api';
import type { Measure } from '../../../shared/measures/index.ts';

/**
 * The state a measure's batch face builds in DuckDB over `values` (one column, `type`), read back through
 * `fromStored`: what the batch layer stores for a window holding those values.
 */
export async function batchStateOf<State>(connection: DuckDBConnection, measure: Measure<State>, type: 'DOUBLE' | 'BIGINT', values: ReadonlyArray<number | null>): Promise<State> {
  await connection.run(`CREATE OR REPLACE TABLE measured (v ${type})`);
  const appender = await connection.createAppender('measured');
  for (const value of values) {
    if (value === null) appender.appendNull();
    else if (type === 'BIGINT') appender.appendBigInt(BigInt(value));
    else appender.appendDouble(value);
    appender.endRow();
  }
  appender.closeSync();
  const face = measure.batch;
  const raw = (suffix: string) => `"r${suffix}"`;
  const aggregates = face.aggregates('"v"').map(([suffix, sql]) => `${sql} AS ${raw(suffix)}`);
  const reader = await connection.runAndReadAll(`SELECT ${face.state(raw)} AS state FROM (SELECT ${aggregates.join(', ')} FROM measured)`);
  return face.fromStored(reader.getRowObjectsJS()[0]!.state);
}
