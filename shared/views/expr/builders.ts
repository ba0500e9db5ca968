import {
  ARITY,
  FIELD_NAME_PATTERN,
  UNIT_MS,
  checkLiteral,
  describeValue,
  invalid,
  type ExprNode,
  type FnName,
  type LiteralValue,
  type TimeUnit,
} from './ast.ts';

/**
 * The user-facing builders: `field`, `lit` and one function per call, each
 * returning an {@link Expr} that wraps the node it makes, and the stable text
 * of an expression.
 */

/** Where an expression is expected, a plain JS value stands for a literal. */
export type ExprInput = Expr | LiteralValue;

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

/** The node an expression wraps; a node passes through as it is. */
export function nodeOf(expr: Expr | ExprNode): ExprNode {
  return expr instanceof Expr ? expr.node : expr;
}

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
