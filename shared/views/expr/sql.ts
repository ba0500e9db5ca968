import { BraidError, ErrorCode } from '../../errors/index.ts';
import { sqlIdentifier, sqlNumberLiteral, sqlStringLiteral } from '../../sql/index.ts';
import { UNIT_MS, checkShape, type ExprNode, type FnName, type TimeUnit } from './ast.ts';
import { nodeOf, type Expr } from './builders.ts';

/**
 * The SQL face: a DuckDB expression over columns named as the source's
 * fields, for a WHERE clause or a SELECT list. Field names are checked and
 * double-quoted, literals are escaped (see `shared/sql/`): nothing in an
 * expression can change the statement around it.
 *
 * @example
 * compileSql(and(eq(field('country'), 'US'), gt(field('revenue'), 0)))
 * // ("country" = 'US') AND ("revenue" > CAST(0 AS BIGINT)), in parentheses
 */
export function compileSql(expr: Expr | ExprNode): string {
  const node = nodeOf(expr);
  checkShape(node);
  return sqlOf(node);
}

const SQL_OPERATORS: Partial<Record<FnName, string>> = {
  eq: '=',
  ne: '<>',
  lt: '<',
  le: '<=',
  gt: '>',
  ge: '>=',
  add: '+',
  sub: '-',
  mul: '*',
  div: '/',
  and: 'AND',
  or: 'OR',
  concat: '||',
};

const SQL_FUNCTIONS: Partial<Record<FnName, string>> = {
  lower: 'lower',
  upper: 'upper',
  startsWith: 'starts_with',
  contains: 'contains',
  length: 'length',
  coalesce: 'coalesce',
};

function sqlOf(node: ExprNode): string {
  if (node.kind === 'field') return sqlIdentifier(node.name); // checked by checkShape
  if (node.kind === 'lit') {
    const value = node.value;
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    return typeof value === 'number' ? sqlNumberLiteral(value) : sqlStringLiteral(value);
  }
  const { fn } = node;
  const args = node.args.map((arg) => sqlOf(arg));
  const operator = SQL_OPERATORS[fn];
  if (operator !== undefined) return `(${args.join(` ${operator} `)})`;
  const name = SQL_FUNCTIONS[fn];
  if (name !== undefined) return `${name}(${args.join(', ')})`;
  const [x] = args as [string];
  switch (fn) {
    case 'not':
      return `(NOT ${x})`;
    case 'isNull':
      return `(${x} IS NULL)`;
    case 'isNotNull':
      return `(${x} IS NOT NULL)`;
    case 'in':
      return `(${x} IN (${args.slice(1).join(', ')}))`;
    // The time functions are the same double arithmetic as in js.ts, not
    // DuckDB's date functions, so both faces agree on any number; TRY_CAST
    // makes NaN/±Infinity NULL, as the JS face does.
    case 'hourOfDay':
      return `TRY_CAST(((floor(${x} / 3600000) % 24) + 24) % 24 AS BIGINT)`;
    case 'dayOfWeek':
      return `TRY_CAST(((((floor(${x} / 86400000) + 3) % 7) + 7) % 7) + 1 AS BIGINT)`;
    case 'truncTime': {
      const unitMs = UNIT_MS[(node.args[1] as { value: TimeUnit }).value];
      return `TRY_CAST(floor(${x} / ${unitMs}) * ${unitMs} AS BIGINT)`;
    }
    default:
      throw new BraidError(ErrorCode.INTERNAL, `compileSql: no SQL for ${fn}`);
  }
}
