/**
 * View expressions: filters and derived dimensions as plain data, built with
 * small typed functions (`and(eq(field('country'), 'US'), gt(field('revenue'), 0))`)
 * and compiled twice — to a JS function the speed layer runs per event, and to
 * DuckDB SQL the batch layer runs over Parquet. The two faces agree on every
 * input, NULL included, because the JS face follows SQL:
 *
 * - NULL in, NULL out: comparisons, arithmetic and string functions of a null are null.
 * - `and`/`or`/`not` are three-valued (Kleene): `and(false, null)` is false, `and(true, null)` is null.
 * - A filter passes an event only when it evaluates to exactly `true`.
 * - `div` is IEEE double division as in DuckDB (whose `ieee_floating_point_ops`
 *   is on by default): `x/0` is ±Infinity, `0/0` is NaN; int/int gives a double.
 * - NaN is a value as in DuckDB: it equals itself and sorts above +Infinity.
 * - Strings compare in code point order (DuckDB's byte order), `length` counts
 *   code points, `lower`/`upper` map code point by code point (see `js.ts`).
 *
 * Build expressions with the functions of `builders.ts`; plain JS values where
 * an expression is expected are literals (`eq(field('country'), 'US')`), so a
 * field is always named with `field()`.
 *
 * One concept a file: `ast.ts` the node tree and its checks, `builders.ts` the
 * builders and the stable text, `types.ts` type checking, `js.ts` the JS face
 * and its runtime, `sql.ts` the SQL face (quoting from `shared/sql/`).
 */

export type { ExprNode, FnName, LiteralValue, TimeUnit } from './ast.ts';
export {
  Expr,
  add,
  and,
  coalesce,
  concat,
  contains,
  dayOfWeek,
  div,
  eq,
  exprToString,
  field,
  ge,
  gt,
  hourOfDay,
  inList,
  isExpr,
  isNotNull,
  isNull,
  le,
  length,
  lit,
  lower,
  lt,
  mul,
  ne,
  not,
  or,
  startsWith,
  sub,
  truncTime,
  upper,
  type ExprInput,
} from './builders.ts';
export { typeOf, type ValueType } from './types.ts';
export { compileJs, compileJsPredicate } from './js.ts';
export { compileSql } from './sql.ts';
