import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import type { FieldType, Source } from '../shared/sources/index.ts';
import { sqlIdentifier, sqlStringLiteral } from '../shared/sql/index.ts';
import type { ExprNode, View } from '../shared/views/index.ts';
import { duckDbType, FIELDS_METADATA_KEY, type MasterFile } from './master-dataset.ts';
import { readParquet } from './read-parquet.ts';

/** A field as a master file records it (the source's spec when the file was written). */
export interface RecordedField {
  readonly type: FieldType;
  readonly nullable: boolean;
}

/** What each Parquet file of a source's master dataset records of its fields, by path. */
export interface MasterSchema {
  readonly source: string;
  readonly byFile: ReadonlyMap<string, Readonly<Record<string, RecordedField>>>;
}

/** Files are immutable, so what their footers say is read once per process. */
const recorded = new Map<string, Readonly<Record<string, RecordedField>>>();

async function readRecordedFields(files: readonly string[]): Promise<void> {
  const missing = files.filter((file) => !recorded.has(file));
  if (missing.length === 0) return;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (let start = 0; start < missing.length; start += 1_000) {
      const chunk = missing.slice(start, start + 1_000);
      const rows = (
        await connection.runAndReadAll(
          `SELECT file_name, decode(value) AS fields FROM parquet_kv_metadata([${chunk.map(sqlStringLiteral).join(', ')}]) WHERE decode(key) = ${sqlStringLiteral(FIELDS_METADATA_KEY)}`,
        )
      ).getRowObjectsJS() as Array<{ file_name: string; fields: string }>;
      for (const row of rows) recorded.set(row.file_name, JSON.parse(row.fields) as Record<string, RecordedField>);
      for (const file of chunk) {
        if (!recorded.has(file)) {
          throw new BraidError(ErrorCode.CONFIG_INVALID, `${file} records no source fields (${FIELDS_METADATA_KEY}); it was not written by Braid's archiver`, {
            fields: { file },
            hint: 'move files Braid did not write out of the master dataset',
          });
        }
      }
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A few file names for a message, relative to their day folder's parent, with the count of the rest. */
function someFiles(files: readonly string[]): string {
  const named = files.slice(0, 3).map((file) => path.join(path.basename(path.dirname(file)), path.basename(file)));
  return `${files.length} file${files.length === 1 ? '' : 's'}: ${named.join(', ')}${files.length > 3 ? ', …' : ''}`;
}

/**
 * Checks that the source as defined now can read every file of its master dataset, and says which files and
 * which views stand in the way when it cannot:
 * - a field added since a file was written must be nullable (that file's rows read it as null);
 * - a field's type may only widen from int to float;
 * - a field that may be null in a file may not become non-nullable.
 * A field removed from the source is simply not read. Adding a nullable field is always fine.
 *
 * @example
 * await checkMasterSchema({ source: orders, files: completeFiles(listMasterFiles(dataDir, 'orders').files), views });
 */
export async function checkMasterSchema(options: { source: Source; files: readonly MasterFile[]; views?: readonly View[] }): Promise<MasterSchema> {
  const { source } = options;
  const physical = [...new Set(options.files.map((file) => file.path))];
  await readRecordedFields(physical);
  const byFile = new Map(physical.map((file) => [file, recorded.get(file)!]));
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(source.fields)) {
    const absent: string[] = [];
    const otherType = new Map<FieldType, string[]>();
    const maybeNull: string[] = [];
    for (const [file, fields] of byFile) {
      const field = fields[name];
      if (field === undefined) absent.push(file);
      else if (field.type !== spec.type && !(field.type === 'int' && spec.type === 'float')) otherType.set(field.type, [...(otherType.get(field.type) ?? []), file]);
      else if (field.nullable && spec.nullable !== true) maybeNull.push(file);
    }
    const using = (options.views ?? []).filter((view) => viewUses(view, name)).map((view) => view.name);
    const views = using.length > 0 ? `; views using it: ${using.join(', ')}` : '';
    if (absent.length > 0 && spec.nullable !== true) {
      problems.push(`field ${name} is not in ${someFiles(absent)}, and is not nullable: older rows have no value for it (declare it nullable)${views}`);
    }
    for (const [type, files] of otherType) problems.push(`field ${name} is ${type} in ${someFiles(files)}; the source now says ${spec.type}${views}`);
    if (maybeNull.length > 0) problems.push(`field ${name} may be null in ${someFiles(maybeNull)}; the source now says it is not nullable${views}`);
  }
  if (problems.length > 0) {
    throw new BraidError(
      ErrorCode.CONFIG_INVALID,
      `source ${source.name}: its master dataset cannot be read with the source as defined now:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
      {
        fields: { source: source.name, problems },
        hint: 'change the source back to what the files hold (add fields as nullable; widen int to float only), or archive into a new dataDir',
      },
    );
  }
  return { source: source.name, byFile };
}

/** Whether a view reads a field: as its time, a dimension, in its filter or under a measure. */
function viewUses(view: View, field: string): boolean {
  const mentions = (node: ExprNode): boolean => (node.kind === 'field' ? node.name === field : node.kind === 'call' && node.args.some(mentions));
  return (
    view.source.timeField === field ||
    view.dimensions.some((dimension) => mentions(dimension.expr)) ||
    (view.filter !== undefined && mentions(view.filter)) ||
    view.measures.some(({ measure }) => measure.field === field)
  );
}

/**
 * The fields a file merged from `files` records: each field with its type, nullable where any of the files says so
 * or lacks it (its rows read it as null).
 */
export function mergedFieldsMetadata(schema: MasterSchema, files: readonly string[]): string {
  const merged: Record<string, RecordedField> = {};
  const recordedFields = files.map((file) => schema.byFile.get(file) ?? recorded.get(file) ?? {});
  for (const fields of recordedFields) {
    for (const [name, field] of Object.entries(fields)) {
      const known = merged[name];
      // Types differ only where int widened to float (checkMasterSchema refuses anything else).
      merged[name] = known ? { type: known.type === field.type ? known.type : 'float', nullable: known.nullable || field.nullable } : { ...field };
    }
  }
  for (const name of Object.keys(merged)) {
    if (recordedFields.some((fields) => fields[name] === undefined)) merged[name] = { ...merged[name]!, nullable: true };
  }
  return JSON.stringify(merged);
}

/**
 * The FROM target reading `files` of a source's master dataset: {@link readParquet}, plus a NULL column for each field
 * of the source that none of the files holds (a nullable field added since they were written), so every field of
 * the source can be read whatever the files are.
 */
export function readMaster(schema: MasterSchema, source: Source, files: readonly string[]): string {
  // Matching columns by name costs a read of every file's schema first: only files of different fields need it.
  const written = new Set(files.map((file) => JSON.stringify(schema.byFile.get(file) ?? {})));
  const read = readParquet(files, { byName: written.size > 1 });
  const missing = Object.entries(source.fields).filter(([name]) => files.every((file) => schema.byFile.get(file)?.[name] === undefined));
  if (missing.length === 0) return read;
  return `(SELECT *, ${missing.map(([name, spec]) => `NULL::${duckDbType(spec)} AS ${sqlIdentifier(name)}`).join(', ')} FROM ${read})`;
}
