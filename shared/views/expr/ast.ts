import { BraidError, ErrorCode } from '../../errors/index.ts';

/**
 * The expression tree as plain data: the node kinds, the functions a call may
 * name with their argument counts, and the checks a tree must pass before a
 * face compiles it. The builders (`builders.ts`) make only good trees; a tree
 * may also come from elsewhere (stored JSON, a hand-written object), so the
 * faces check its shape first.
 */

export type FnName =
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  | 'and'
  | 'or'
  | 'not'
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'lower'
  | 'upper'
  | 'concat'
  | 'startsWith'
  | 'contains'
  | 'length'
  | 'isNull'
  | 'isNotNull'
  | 'in'
  | 'coalesce'
  | 'hourOfDay'
  | 'dayOfWeek'
  | 'truncTime';

export type LiteralValue = string | number | boolean | null;

export type ExprNode =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'lit'; readonly value: LiteralValue }
  | { readonly kind: 'call'; readonly fn: FnName; readonly args: readonly ExprNode[] };

export type TimeUnit = 'minute' | 'hour' | 'day';

/** Milliseconds in each `truncTime` unit. */
export const UNIT_MS: Readonly<Record<TimeUnit, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Argument counts: [min, max]. `in` is the value, then one or more literals; `truncTime`'s second argument is a unit literal. */
export const ARITY: Readonly<Record<FnName, readonly [number, number]>> = {
  eq: [2, 2],
  ne: [2, 2],
  lt: [2, 2],
  le: [2, 2],
  gt: [2, 2],
  ge: [2, 2],
  and: [1, Infinity],
  or: [1, Infinity],
  not: [1, 1],
  add: [2, 2],
  sub: [2, 2],
  mul: [2, 2],
  div: [2, 2],
  lower: [1, 1],
  upper: [1, 1],
  concat: [1, Infinity],
  startsWith: [2, 2],
  contains: [2, 2],
  length: [1, 1],
  isNull: [1, 1],
  isNotNull: [1, 1],
  in: [2, Infinity],
  coalesce: [1, Infinity],
  hourOfDay: [1, 1],
  dayOfWeek: [1, 1],
  truncTime: [2, 2],
};

/** A CONFIG_INVALID error: a bad expression makes a bad view definition. */
export function invalid(message: string, fields: Record<string, unknown> = {}): BraidError {
  return new BraidError(ErrorCode.CONFIG_INVALID, message, { fields });
}

/** A value as error messages name it. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** Field (column) names Braid accepts, as for sources' fields. */
export const FIELD_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

/**
 * Checks a field name against {@link FIELD_NAME_PATTERN}. The faces write the
 * name into code as it is (an SQL identifier, a JS property), so a name that
 * would need escaping is refused rather than escaped.
 */
export function checkFieldName(name: string): void {
  if (typeof name !== 'string' || !FIELD_NAME_PATTERN.test(name)) {
    throw invalid(`field name ${JSON.stringify(name)} must match [a-z][a-z0-9_]*`, { field: name });
  }
}

/** A literal as a node holds it: numbers finite (`-0` made `0`), strings well-formed Unicode. */
export function checkLiteral(value: unknown, fn: string): LiteralValue {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`${fn}: number literals must be finite, got ${value}`);
    return value === 0 ? 0 : value;
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw invalid(`${fn}: string literal ${JSON.stringify(value)} is not well-formed Unicode (lone surrogate)`);
    return value;
  }
  throw invalid(`${fn}: literals are strings, numbers, booleans or null, got ${describeValue(value)}`);
}

const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Checks a node tree's shape: the builders make only good trees, but a node
 * may also come from elsewhere (stored JSON, a hand-written object), and the
 * compilers put names and literals into code.
 */
export function checkShape(node: unknown): asserts node is ExprNode {
  if (typeof node !== 'object' || node === null) throw invalid(`not an expression node: ${describeValue(node)}`);
  const candidate = node as { kind?: unknown; name?: unknown; value?: unknown; fn?: unknown; args?: unknown };
  if (candidate.kind === 'field') {
    checkFieldName(candidate.name as string);
    return;
  }
  if (candidate.kind === 'lit') {
    checkLiteral(candidate.value, 'lit');
    return;
  }
  if (candidate.kind !== 'call') throw invalid(`not an expression node: kind ${JSON.stringify(candidate.kind)}`);
  const fn = candidate.fn as FnName;
  if (typeof fn !== 'string' || !Object.hasOwn(ARITY, fn)) throw invalid(`unknown function ${JSON.stringify(fn)}`);
  const args = candidate.args;
  const [min, max] = ARITY[fn];
  if (!Array.isArray(args) || args.length < min || args.length > max) {
    const expected = min === max ? `${min} argument${min === 1 ? '' : 's'}` : `${min} or more arguments`;
    throw invalid(`${fn}: expected ${expected}, got ${Array.isArray(args) ? args.length : 'none'}`);
  }
  for (const arg of args) checkShape(arg);
  if (fn === 'in') {
    for (const value of args.slice(1) as ExprNode[]) {
      if (value.kind !== 'lit' || value.value === null) throw invalid('in: the list must hold non-null literals');
    }
  }
  if (fn === 'truncTime') {
    const unit = args[1] as ExprNode;
    if (unit.kind !== 'lit' || typeof unit.value !== 'string' || !Object.hasOwn(UNIT_MS, unit.value)) {
      throw invalid(`truncTime: unit must be the literal 'minute', 'hour' or 'day'`);
    }
  }
}
