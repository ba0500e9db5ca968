import { BraidError, ErrorCode } from '../errors/index.ts';
import type { FieldSpec } from '../sources/index.ts';
import {
  codePointLength,
  compareUtf8,
  dayOfWeekUtc,
  hourOfDayUtc,
  lowerLikeDuckDb,
  truncateEpochMs,
  upperLikeDuckDb,
} from './expr-js.ts';
import { FIELD_NAME_PATTERN, quoteIdentifier, sqlNumberLiteral, sqlStringLiteral } from './expr-sql.ts';

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
 *   code points, `lower`/`upper` map code point by code point (see `expr-js.ts`).
 *
 * Build expressions with the functions below; plain JS values where an
 * expression is expected are literals (`eq(field('country'), 'US')`), so a
 * field is always named with `field()`.
 */

/** What an expression evaluates to. `timestamp` is epoch milliseconds (a number in JS, BIGINT in DuckDB). */
export type ValueType = 'string' | 'number' | 'bool' | 'timestamp';

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

/** Where an expression is expected, a plain JS value stands for a literal. */
export type ExprInput = Expr | LiteralValue;

export type TimeUnit = 'minute' | 'hour' | 'day';

const UNIT_MS: Readonly<Record<TimeUnit, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Argument counts: [min, max]. `in` is the value, then one or more literals; `truncTime`'s second argument is a unit literal. */
const ARITY: Readonly<Record<FnName, readonly [number, number]>> = {
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

function invalid(message: string, fields: Record<string, unknown> = {}): BraidError {
  return new BraidError(ErrorCode.CONFIG_INVALID, message, { fields });
}

/**
 * An expression: an immutable wrapper around its {@link ExprNode}, with
 * fluent shorthands for the builder functions.
 *
 * @example
 * const bigUsOrders = field('country').eq('US').and(field('revenue').gt(100));
 */
export class Expr {
  readonly node: ExprNode;

  constructor(node: ExprNode) {
    this.node = node;
  }

  eq(other: ExprInput): Expr {
    return eq(this, other);
  }
  ne(other: ExprInput): Expr {
    return ne(this, other);
  }
  lt(other: ExprInput): Expr {
    return lt(this, other);
  }
  le(other: ExprInput): Expr {
    return le(this, other);
  }
  gt(other: ExprInput): Expr {
    return gt(this, other);
  }
  ge(other: ExprInput): Expr {
    return ge(this, other);
  }
  and(...others: ExprInput[]): Expr {
    return and(this, ...others);
  }
  or(...others: ExprInput[]): Expr {
    return or(this, ...others);
  }
  not(): Expr {
    return not(this);
  }
  add(other: ExprInput): Expr {
    return add(this, other);
  }
  sub(other: ExprInput): Expr {
    return sub(this, other);
  }
  mul(other: ExprInput): Expr {
    return mul(this, other);
  }
  div(other: ExprInput): Expr {
    return div(this, other);
  }
  isNull(): Expr {
    return isNull(this);
  }
  isNotNull(): Expr {
    return isNotNull(this);
  }
  in(values: ReadonlyArray<string | number | boolean>): Expr {
    return inList(this, values);
  }
  /** Same as {@link exprToString}. */
  toString(): string {
    return exprToString(this);
  }
}

/** True for expressions made by this module's builders. */
export function isExpr(value: unknown): value is Expr {
  return value instanceof Expr;
}

function toExpr(input: ExprInput, fn: string): Expr {
  if (input instanceof Expr) return input;
  if (input === null || typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean') return lit(input);
  throw invalid(`${fn}: expected an expression (field(), lit(), …) or a string, number, boolean or null, got ${describeValue(input)}`);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function call(fn: FnName, inputs: readonly ExprInput[]): Expr {
  const [min] = ARITY[fn];
  if (inputs.length < min) throw invalid(`${fn}: needs at least ${min} argument${min === 1 ? '' : 's'}`);
  return new Expr({ kind: 'call', fn, args: inputs.map((input) => toExpr(input, fn).node) });
}

/**
 * A source field, by name.
 *
 * @example field('country')
 */
export function field(name: string): Expr {
  if (typeof name !== 'string' || !FIELD_NAME_PATTERN.test(name)) {
    throw invalid(`field: name ${JSON.stringify(name)} must match [a-z][a-z0-9_]*`, { field: name });
  }
  return new Expr({ kind: 'field', name });
}

/**
 * A constant. Numbers must be finite (`-0` becomes `0`); strings must be
 * well-formed Unicode (no lone surrogates, which DuckDB cannot store).
 *
 * @example lit("O'Brien")
 */
export function lit(value: LiteralValue): Expr {
  return new Expr({ kind: 'lit', value: checkLiteral(value, 'lit') });
}

function checkLiteral(value: unknown, fn: string): LiteralValue {
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

/** `a = b`; null if either is null. @example eq(field('country'), 'US') */
export function eq(a: ExprInput, b: ExprInput): Expr {
  return call('eq', [a, b]);
}
/** `a <> b`; null if either is null. @example ne(field('device'), 'bot') */
export function ne(a: ExprInput, b: ExprInput): Expr {
  return call('ne', [a, b]);
}
/** `a < b` (strings in code point order); null if either is null. @example lt(field('revenue'), 10) */
export function lt(a: ExprInput, b: ExprInput): Expr {
  return call('lt', [a, b]);
}
/** `a <= b`; null if either is null. @example le(field('revenue'), 10) */
export function le(a: ExprInput, b: ExprInput): Expr {
  return call('le', [a, b]);
}
/** `a > b`; null if either is null. @example gt(field('revenue'), 0) */
export function gt(a: ExprInput, b: ExprInput): Expr {
  return call('gt', [a, b]);
}
/** `a >= b`; null if either is null. @example ge(field('ts'), 1767225600000) */
export function ge(a: ExprInput, b: ExprInput): Expr {
  return call('ge', [a, b]);
}

/** Three-valued AND of one or more booleans: false if any is false, else null if any is null. @example and(eq(field('country'), 'US'), gt(field('revenue'), 0)) */
export function and(...xs: ExprInput[]): Expr {
  return call('and', xs);
}
/** Three-valued OR: true if any is true, else null if any is null. @example or(eq(field('device'), 'mobile'), eq(field('device'), 'tablet')) */
export function or(...xs: ExprInput[]): Expr {
  return call('or', xs);
}
/** Three-valued NOT: `not(null)` is null. @example not(startsWith(field('url'), '/admin')) */
export function not(x: ExprInput): Expr {
  return call('not', [x]);
}

/** `a + b`; a timestamp plus a number is a timestamp. @example add(field('ts'), 60_000) */
export function add(a: ExprInput, b: ExprInput): Expr {
  return call('add', [a, b]);
}
/** `a - b`; timestamp minus timestamp is a number of ms. @example sub(field('ts'), field('started_at')) */
export function sub(a: ExprInput, b: ExprInput): Expr {
  return call('sub', [a, b]);
}
/** `a * b`. @example mul(field('price'), field('quantity')) */
export function mul(a: ExprInput, b: ExprInput): Expr {
  return call('mul', [a, b]);
}
/** `a / b` as double division, as DuckDB's `/`: `7 / 2` is 3.5, `1 / 0` is Infinity, `0 / 0` is NaN. @example div(field('revenue'), 100) */
export function div(a: ExprInput, b: ExprInput): Expr {
  return call('div', [a, b]);
}

/** Lower case, code point by code point as DuckDB does. @example lower(field('country')) */
export function lower(x: ExprInput): Expr {
  return call('lower', [x]);
}
/** Upper case, code point by code point as DuckDB does (`upper('ß')` is 'ẞ'). @example upper(field('country')) */
export function upper(x: ExprInput): Expr {
  return call('upper', [x]);
}
/** Joins strings; null if any is null (SQL `||`, not DuckDB's null-skipping `concat()`). @example concat(field('country'), ':', field('device')) */
export function concat(...xs: ExprInput[]): Expr {
  return call('concat', xs);
}
/** Whether `x` starts with `prefix` (every string starts with ''). @example startsWith(field('url'), '/product/') */
export function startsWith(x: ExprInput, prefix: ExprInput): Expr {
  return call('startsWith', [x, prefix]);
}
/** Whether `x` contains `needle`, case-sensitively. @example contains(field('url'), 'checkout') */
export function contains(x: ExprInput, needle: ExprInput): Expr {
  return call('contains', [x, needle]);
}
/** Length in code points (`length('😀')` is 1). @example length(field('url')) */
export function length(x: ExprInput): Expr {
  return call('length', [x]);
}

/** Whether `x` is null (never null itself). @example isNull(field('revenue')) */
export function isNull(x: ExprInput): Expr {
  return call('isNull', [x]);
}
/** Whether `x` is not null. @example isNotNull(field('revenue')) */
export function isNotNull(x: ExprInput): Expr {
  return call('isNotNull', [x]);
}

/**
 * Whether `x` is one of `values` (SQL `IN`): null when `x` is null. The list
 * is non-empty and holds no nulls.
 *
 * @example inList(field('country'), ['US', 'CA', 'MX'])
 */
export function inList(x: ExprInput, values: ReadonlyArray<string | number | boolean>): Expr {
  if (!Array.isArray(values) || values.length === 0) throw invalid('in: needs a non-empty array of values');
  if (values.some((value) => value === null)) {
    throw invalid('in: the list may not hold null (x IN (…, NULL) is never true); use or(isNull(x), inList(x, …))');
  }
  return call('in', [x, ...values.map((value) => lit(value))]);
}

/** The first non-null argument, or null. @example coalesce(field('revenue'), 0) */
export function coalesce(...xs: ExprInput[]): Expr {
  return call('coalesce', xs);
}

/** Hour of day, 0..23, in UTC of epoch milliseconds. @example hourOfDay(field('ts')) */
export function hourOfDay(ts: ExprInput): Expr {
  return call('hourOfDay', [ts]);
}
/** ISO day of week in UTC: 1 = Monday .. 7 = Sunday. @example dayOfWeek(field('ts')) */
export function dayOfWeek(ts: ExprInput): Expr {
  return call('dayOfWeek', [ts]);
}
/** Epoch milliseconds truncated to the start of their UTC minute, hour or day. @example truncTime(field('ts'), 'hour') */
export function truncTime(ts: ExprInput, unit: TimeUnit): Expr {
  if (!Object.hasOwn(UNIT_MS, unit)) throw invalid(`truncTime: unit must be 'minute', 'hour' or 'day', got ${JSON.stringify(unit)}`);
  return call('truncTime', [ts, unit]);
}

function nodeOf(expr: Expr | ExprNode): ExprNode {
  return expr instanceof Expr ? expr.node : expr;
}

/**
 * Checks a node tree's shape: the builders make only good trees, but a node
 * may also come from elsewhere (stored JSON, a hand-written object), and the
 * compilers put names and literals into code.
 */
function checkShape(node: unknown): asserts node is ExprNode {
  if (typeof node !== 'object' || node === null) throw invalid(`not an expression node: ${describeValue(node)}`);
  const candidate = node as { kind?: unknown; name?: unknown; value?: unknown; fn?: unknown; args?: unknown };
  if (candidate.kind === 'field') {
    quoteIdentifier(candidate.name as string);
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

// ---------------------------------------------------------------------------
// Types

/** 'null' is the type of a bare null literal: it fits anywhere. */
type InferredType = ValueType | 'null';

const FIELD_VALUE_TYPE: Readonly<Record<FieldSpec['type'], ValueType>> = {
  string: 'string',
  int: 'number',
  float: 'number',
  bool: 'bool',
  timestampMs: 'timestamp',
};

/**
 * Type-checks an expression against a source's fields and returns its type.
 * Throws a CONFIG_INVALID {@link BraidError} naming the unknown field or the
 * function and its mistyped argument. Run it before compiling: the compilers
 * trust the types.
 *
 * @example
 * typeOf(gt(field('revenue'), 0), clickstream.fields) // 'bool'
 * typeOf(field('urll'), clickstream.fields) // throws: unknown field "urll" (fields: ts, user_id, …)
 */
export function typeOf(expr: Expr | ExprNode, fields: Record<string, FieldSpec>): ValueType {
  const node = nodeOf(expr);
  checkShape(node);
  const type = inferType(node, fields);
  if (type === 'null') throw invalid(`${exprToString(node)} is always null, so it has no type`);
  return type;
}

function inferType(node: ExprNode, fields: Record<string, FieldSpec>): InferredType {
  if (node.kind === 'field') {
    const spec = Object.hasOwn(fields, node.name) ? fields[node.name] : undefined;
    if (!spec) throw invalid(`unknown field "${node.name}" (fields: ${Object.keys(fields).join(', ')})`, { field: node.name });
    return FIELD_VALUE_TYPE[spec.type];
  }
  if (node.kind === 'lit') {
    const value = node.value;
    return value === null ? 'null' : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'bool';
  }
  const { fn } = node;
  const types = node.args.map((arg) => inferType(arg, fields));
  const expect = (index: number, allowed: readonly ValueType[], what: string): void => {
    const type = types[index]!;
    if (type !== 'null' && !allowed.includes(type)) {
      const position = node.args.length > 1 ? `argument ${index + 1} is ` : 'got ';
      throw invalid(`${fn}: expected ${what}, ${position}${type} (${exprToString(node.args[index]!)})`);
    }
  };
  const numeric = (t: InferredType) => t === 'number' || t === 'timestamp';
  const comparable = (a: InferredType, b: InferredType) => a === 'null' || b === 'null' || a === b || (numeric(a) && numeric(b));

  switch (fn) {
    case 'eq':
    case 'ne':
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge': {
      const [a, b] = types as [InferredType, InferredType];
      if (!comparable(a, b)) throw invalid(`${fn}: cannot compare ${a} with ${b}`);
      if (fn !== 'eq' && fn !== 'ne' && (a === 'bool' || b === 'bool')) throw invalid(`${fn}: cannot order bool values (use eq or ne)`);
      return 'bool';
    }
    case 'and':
    case 'or':
    case 'not':
      types.forEach((_, i) => expect(i, ['bool'], 'a bool'));
      return 'bool';
    case 'add':
    case 'sub': {
      types.forEach((_, i) => expect(i, ['number', 'timestamp'], 'a number'));
      const [a, b] = types as [InferredType, InferredType];
      if (fn === 'add' && a === 'timestamp' && b === 'timestamp') throw invalid('add: cannot add two timestamps');
      if (fn === 'sub' && a !== 'timestamp' && b === 'timestamp') throw invalid('sub: cannot subtract a timestamp from a number');
      if (fn === 'sub' && a === 'timestamp' && b === 'timestamp') return 'number';
      return a === 'timestamp' || b === 'timestamp' ? 'timestamp' : 'number';
    }
    case 'mul':
    case 'div':
      // Timestamps are numbers here: div(field('ts'), 1000) is epoch seconds.
      types.forEach((_, i) => expect(i, ['number', 'timestamp'], 'a number'));
      return 'number';
    case 'lower':
    case 'upper':
    case 'concat':
      types.forEach((_, i) => expect(i, ['string'], 'a string'));
      return 'string';
    case 'startsWith':
    case 'contains':
      types.forEach((_, i) => expect(i, ['string'], 'a string'));
      return 'bool';
    case 'length':
      expect(0, ['string'], 'a string');
      return 'number';
    case 'isNull':
    case 'isNotNull':
      return 'bool';
    case 'in': {
      const x = types[0]!;
      types.slice(1).forEach((t, i) => {
        if (!comparable(x, t)) throw invalid(`in: cannot compare ${x} with ${t} (${exprToString(node.args[i + 1]!)})`);
      });
      return 'bool';
    }
    case 'coalesce': {
      const known = types.filter((t) => t !== 'null');
      const first = known[0];
      if (first === undefined) return 'null';
      for (const t of known) if (!comparable(first, t)) throw invalid(`coalesce: cannot mix ${first} with ${t}`);
      return first;
    }
    case 'hourOfDay':
    case 'dayOfWeek':
      expect(0, ['timestamp', 'number'], 'a timestamp');
      return 'number';
    case 'truncTime':
      expect(0, ['timestamp', 'number'], 'a timestamp');
      return 'timestamp';
  }
}

// ---------------------------------------------------------------------------
// Text

/**
 * Stable text of an expression, for definition hashes and listings: function
 * calls with field names bare and strings single-quoted (`\'` and `\\`
 * escaped), so different expressions never print alike.
 *
 * @example exprToString(and(eq(field('country'), 'US'), gt(field('revenue'), 0))) // "and(eq(country, 'US'), gt(revenue, 0))"
 */
export function exprToString(expr: Expr | ExprNode): string {
  const node = nodeOf(expr);
  if (node.kind === 'field') return node.name;
  if (node.kind === 'lit') return literalText(node.value);
  return `${node.fn}(${node.args.map((arg) => exprToString(arg)).join(', ')})`;
}

function literalText(value: LiteralValue): string {
  if (typeof value !== 'string') return String(value);
  const escaped = value.replace(/[\\'\u0000-\u001f\u007f]/g, (char) => {
    if (char === '\\' || char === "'") return `\\${char}`;
    if (char === '\n') return '\\n';
    if (char === '\t') return '\\t';
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `'${escaped}'`;
}

// ---------------------------------------------------------------------------
// JS face

/** Runtime helpers the generated code reaches as `h.…`. */
const JS_HELPERS = {
  eq: (x: unknown, y: unknown): boolean => x === y || (x !== x && y !== y),
  lt: (x: unknown, y: unknown): boolean =>
    typeof x === 'string' ? compareUtf8(x, y as string) < 0 : (x as number) < (y as number) || (y !== y && x === x),
  le: (x: unknown, y: unknown): boolean =>
    typeof x === 'string' ? compareUtf8(x, y as string) <= 0 : (x as number) <= (y as number) || y !== y,
  cmp: compareUtf8,
  lower: lowerLikeDuckDb,
  upper: upperLikeDuckDb,
  length: codePointLength,
  hourOfDay: hourOfDayUtc,
  dayOfWeek: dayOfWeekUtc,
  truncTime: truncateEpochMs,
};

/**
 * Turns a node tree into the body of one JS function. Each call becomes
 * inline code with null checks through numbered temporaries, so an event is
 * evaluated by straight-line code V8 optimises as a whole: no tree walk and no
 * dispatch per event.
 */
class JsCodegen {
  private temps = 0;
  /** Values the code refers to as `k[i]` (the sets of `in`). */
  readonly constants: unknown[] = [];

  tempNames(): string[] {
    return Array.from({ length: this.temps }, (_, i) => `t${i}`);
  }

  private temp(): string {
    return `t${this.temps++}`;
  }

  expr(node: ExprNode): string {
    if (node.kind === 'field') return fieldJs(node.name);
    if (node.kind === 'lit') return literalJs(node.value);
    return this.call(node.fn, node.args);
  }

  /**
   * An argument's value for strict code: a non-null literal is used as it is;
   * anything else is assigned to a temporary and null-checked.
   */
  private operands(args: readonly ExprNode[]): { values: string[]; nullChecks: string[] } | null {
    const values: string[] = [];
    const nullChecks: string[] = [];
    for (const arg of args) {
      if (arg.kind === 'lit') {
        if (arg.value === null) return null;
        values.push(literalJs(arg.value));
        continue;
      }
      const t = this.temp();
      nullChecks.push(`(${t} = ${this.expr(arg)}) === null`);
      values.push(t);
    }
    return { values, nullChecks };
  }

  /** A function that is null when any argument is null (most of them). */
  private strict(args: readonly ExprNode[], body: (values: string[]) => string): string {
    const operands = this.operands(args);
    if (operands === null) return 'null';
    const code = body(operands.values);
    return operands.nullChecks.length === 0 ? `(${code})` : `(${operands.nullChecks.join(' || ')} ? null : ${code})`;
  }

  private call(fn: FnName, args: readonly ExprNode[]): string {
    const [a, b] = args as [ExprNode, ExprNode];
    switch (fn) {
      case 'eq':
      case 'ne': {
        const [operator, helper] = fn === 'eq' ? ['===', 'h.eq'] : ['!==', '!h.eq'];
        return this.strict(args, ([x, y]) =>
          // A non-null literal is never NaN, so plain === is DuckDB's equality.
          a.kind === 'lit' || b.kind === 'lit' ? `${x} ${operator} ${y}` : `${helper}(${x}, ${y})`,
        );
      }
      case 'lt':
        return this.strict(args, ([x, y]) => this.order('lt', a, b, x!, y!));
      case 'le':
        return this.strict(args, ([x, y]) => this.order('le', a, b, x!, y!));
      case 'gt':
        return this.strict(args, ([x, y]) => this.order('lt', b, a, y!, x!));
      case 'ge':
        return this.strict(args, ([x, y]) => this.order('le', b, a, y!, x!));
      case 'and':
      case 'or': {
        // Kleene logic: the deciding value (false for and, true for or) wins
        // over null; otherwise any null makes the result null.
        const decides = fn === 'and' ? 'false' : 'true';
        const tests: string[] = [];
        const names: string[] = [];
        for (const arg of args) {
          if (arg.kind === 'lit') {
            tests.push(`${literalJs(arg.value)} === ${decides}`);
            names.push(literalJs(arg.value));
            continue;
          }
          const t = this.temp();
          tests.push(`(${t} = ${this.expr(arg)}) === ${decides}`);
          names.push(t);
        }
        const otherwise = fn === 'and' ? 'true' : 'false';
        return `(${tests.join(' || ')} ? ${decides} : ${names.map((name) => `${name} === null`).join(' || ')} ? null : ${otherwise})`;
      }
      case 'not':
        return this.strict(args, ([x]) => `!${x}`);
      case 'add':
        return this.strict(args, ([x, y]) => `${x} + ${y}`);
      case 'sub':
        return this.strict(args, ([x, y]) => `${x} - ${y}`);
      case 'mul':
        return this.strict(args, ([x, y]) => `${x} * ${y}`);
      case 'div':
        // IEEE division, as DuckDB's `/` with ieee_floating_point_ops (its default).
        return this.strict(args, ([x, y]) => `${x} / ${y}`);
      case 'lower':
        return this.strict(args, ([x]) => `h.lower(${x})`);
      case 'upper':
        return this.strict(args, ([x]) => `h.upper(${x})`);
      case 'concat':
        return this.strict(args, (values) => (values.length === 1 ? `${values[0]}` : values.join(' + ')));
      case 'startsWith':
        return this.strict(args, ([x, y]) => `(${x}).startsWith(${y})`);
      case 'contains':
        return this.strict(args, ([x, y]) => `(${x}).includes(${y})`);
      case 'length':
        return this.strict(args, ([x]) => `h.length(${x})`);
      case 'isNull':
        return `(${this.expr(a)} === null)`;
      case 'isNotNull':
        return `(${this.expr(a)} !== null)`;
      case 'in': {
        const index = this.constants.push(new Set(args.slice(1).map((arg) => (arg as { value: LiteralValue }).value))) - 1;
        return this.strict([a], ([x]) => `k[${index}].has(${x})`);
      }
      case 'coalesce': {
        const last = this.expr(args[args.length - 1]!);
        const firsts = args.slice(0, -1).map((arg) => {
          const t = this.temp();
          return `(${t} = ${this.expr(arg)}) !== null ? ${t} : `;
        });
        return `(${firsts.join('')}${last})`;
      }
      case 'hourOfDay':
        return this.strict(args, ([x]) => `h.hourOfDay(${x})`);
      case 'dayOfWeek':
        return this.strict(args, ([x]) => `h.dayOfWeek(${x})`);
      case 'truncTime': {
        const unitMs = UNIT_MS[(b as { value: TimeUnit }).value];
        return this.strict([a], ([x]) => `h.truncTime(${x}, ${unitMs})`);
      }
    }
  }

  /** `x < y` / `x <= y` in DuckDB order; a literal side (never NaN) allows plain operators. */
  private order(op: 'lt' | 'le', a: ExprNode, b: ExprNode, x: string, y: string): string {
    const symbol = op === 'lt' ? '<' : '<=';
    const aLit = a.kind === 'lit' ? a.value : undefined;
    const bLit = b.kind === 'lit' ? b.value : undefined;
    if (typeof aLit === 'string' || typeof bLit === 'string') return `h.cmp(${x}, ${y}) ${symbol} 0`;
    if (bLit !== undefined && aLit === undefined) return `${x} ${symbol} ${y}`; // NaN < n and NaN <= n are false in DuckDB too
    if (aLit !== undefined && bLit === undefined) return `(${x} ${symbol} ${y} || ${y} !== ${y})`; // n < NaN is true
    return `h.${op}(${x}, ${y})`;
  }
}

function fieldJs(name: string): string {
  quoteIdentifier(name);
  // `constructor` is the one valid field name an object inherits.
  if (name === 'constructor') return `(Object.hasOwn(e, "constructor") ? (e.constructor ?? null) : null)`;
  return `(e.${name} ?? null)`;
}

function literalJs(value: LiteralValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return value < 0 ? `(${value})` : String(value);
  return String(value);
}

type CompiledExpr = (event: Record<string, unknown>) => unknown;

function generate(expr: Expr | ExprNode, predicate: boolean): CompiledExpr {
  const node = nodeOf(expr);
  checkShape(node);
  const codegen = new JsCodegen();
  const code = codegen.expr(node);
  const temps = codegen.tempNames();
  const body = [
    '"use strict";',
    `return function braidExpr(e) {`,
    temps.length > 0 ? `  let ${temps.join(', ')};` : '',
    predicate ? `  return ${code} === true;` : `  return ${code};`,
    '};',
  ].join('\n');
  // Every name in `code` was checked against [a-z][a-z0-9_]* and every
  // literal was written by JSON.stringify/String of a checked value.
  return new Function('h', 'k', body)(JS_HELPERS, codegen.constants) as CompiledExpr;
}

/**
 * The JS face: compiles an expression once into a function of an event. A
 * missing field reads as null. Values are strings, numbers, booleans or null,
 * as DuckDB would return for the {@link compileSql} face.
 *
 * @example
 * const hour = compileJs(hourOfDay(field('ts')));
 * hour({ ts: Date.UTC(2026, 0, 1, 13, 30) }) // 13
 */
export function compileJs(expr: Expr | ExprNode): (event: Record<string, unknown>) => unknown {
  return generate(expr, false);
}

/**
 * The filter form of {@link compileJs}: true only when the expression is
 * exactly true, so null (unknown) drops the event, as a SQL WHERE does.
 *
 * @example
 * const keep = compileJsPredicate(gt(field('revenue'), 0));
 * keep({ revenue: null }) // false
 */
export function compileJsPredicate(expr: Expr | ExprNode): (event: Record<string, unknown>) => boolean {
  return generate(expr, true) as (event: Record<string, unknown>) => boolean;
}

// ---------------------------------------------------------------------------
// SQL face

/**
 * The SQL face: a DuckDB expression over columns named as the source's
 * fields, for a WHERE clause or a SELECT list. Field names are checked and
 * double-quoted, literals are escaped (see `expr-sql.ts`): nothing in an
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
  if (node.kind === 'field') return quoteIdentifier(node.name);
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
    // The time functions are the same double arithmetic as in expr-js.ts, not
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
