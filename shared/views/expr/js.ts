import { UNIT_MS, checkFieldName, checkShape, type ExprNode, type FnName, type LiteralValue, type TimeUnit } from './ast.ts';
import { nodeOf, type Expr } from './builders.ts';

/**
 * The JS face: an expression compiled to a JS function of an event, for the
 * speed layer. The generated code maps most functions to a plain JS operator
 * and calls the runtime below for the few operations where JavaScript's
 * built-ins and DuckDB disagree, rewritten to do exactly what DuckDB does.
 *
 * Every rule of the runtime was found by running DuckDB (1.5) and is pinned by
 * the equivalence tests in `test/unit/expr.test.ts`, some over every code
 * point — rerun them after upgrading DuckDB or Node (whose ICU brings its own
 * Unicode version).
 */

// ---------------------------------------------------------------------------
// Runtime

/**
 * DuckDB compares VARCHARs byte by byte in UTF-8, which is code point order.
 * JS `<` compares UTF-16 code units, which differs once a surrogate pair
 * (U+10000 and up, e.g. emoji) meets U+E000..U+FFFF (e.g. fullwidth forms):
 * JS puts `'😀' < '～'`, DuckDB the other way round.
 *
 * @example compareUtf8('～', '😀') < 0 // true, as in DuckDB
 */
function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const shorter = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < shorter; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Only when both units are >= U+D800 can the orders disagree: move the
    // surrogates (D800..DFFF) above E000..FFFF, keeping each block's order.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** DuckDB's `length`: code points, not UTF-16 units (`length('😀')` is 1) nor graphemes (`length('🇺🇸')` is 2). */
function codePointLength(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--;
        i++;
      }
    }
  }
  return length;
}

/**
 * Code points with case mappings newer than the Unicode tables in DuckDB's
 * utf8proc (Unicode 16 and 17 additions). A mapping from or to one of them is
 * an identity in DuckDB, so it must be one here, whatever Node's ICU knows.
 */
const NEWER_THAN_DUCKDB: ReadonlyArray<readonly [number, number]> = [
  [0x1c89, 0x1c8a],
  [0xa7cb, 0xa7cf],
  [0xa7d2, 0xa7d5],
  [0xa7da, 0xa7dc],
  [0x10d50, 0x10d65],
  [0x10d70, 0x10d85],
  [0x16ea0, 0x16eb8],
  [0x16ebb, 0x16ed3],
];

function isNewerThanDuckDb(codePoint: number): boolean {
  for (const [first, last] of NEWER_THAN_DUCKDB) if (codePoint >= first && codePoint <= last) return true;
  return false;
}

/**
 * DuckDB maps case one code point at a time (Unicode *simple* case mapping),
 * while JS applies the full mapping (`'ß'.toUpperCase()` is 'SS') with context
 * (final sigma). Where the full mapping of a single code point has several
 * code points, DuckDB keeps the code point, except for these.
 */
const LOWER_EXCEPTIONS: ReadonlyMap<number, number> = new Map([[0x130, 0x69]]); // İ → i
const UPPER_EXCEPTIONS: ReadonlyMap<number, number> = new Map([
  [0xdf, 0x1e9e], // ß → ẞ
  ...greekIotaSubscript(0x1f80),
  ...greekIotaSubscript(0x1f90),
  ...greekIotaSubscript(0x1fa0),
  [0x1fb3, 0x1fbc],
  [0x1fc3, 0x1fcc],
  [0x1ff3, 0x1ffc],
]);

/** ᾀ..ᾇ → ᾈ..ᾏ and the like: the simple uppercase keeps the iota subscript. */
function greekIotaSubscript(first: number): Array<[number, number]> {
  return Array.from({ length: 8 }, (_, i) => [first + i, first + i + 8]);
}

function mapCodePoint(codePoint: number, exceptions: ReadonlyMap<number, number>, upper: boolean): string {
  const exception = exceptions.get(codePoint);
  if (exception !== undefined) return String.fromCodePoint(exception);
  const original = String.fromCodePoint(codePoint);
  if (isNewerThanDuckDb(codePoint)) return original;
  const mapped = upper ? original.toUpperCase() : original.toLowerCase();
  const mappedCodePoint = mapped.codePointAt(0)!;
  const single = mapped.length === (mappedCodePoint > 0xffff ? 2 : 1);
  return single && !isNewerThanDuckDb(mappedCodePoint) ? mapped : original;
}

/** Per code point results, filled as non-ASCII text is met; bounded, as text may hold any of a million code points. */
const CASE_CACHE_MAX_ENTRIES = 10_000;
const lowerCache = new Map<number, string>();
const upperCache = new Map<number, string>();

function mapCase(text: string, upper: boolean): string {
  // ASCII: the built-ins agree with DuckDB and are far faster.
  if (!NON_ASCII.test(text)) return upper ? text.toUpperCase() : text.toLowerCase();
  const cache = upper ? upperCache : lowerCache;
  const exceptions = upper ? UPPER_EXCEPTIONS : LOWER_EXCEPTIONS;
  let result = '';
  for (const char of text) {
    const codePoint = char.codePointAt(0)!;
    if (codePoint < 0x80) {
      result += upper ? char.toUpperCase() : char.toLowerCase();
      continue;
    }
    let mapped = cache.get(codePoint);
    if (mapped === undefined) {
      mapped = mapCodePoint(codePoint, exceptions, upper);
      if (cache.size < CASE_CACHE_MAX_ENTRIES) cache.set(codePoint, mapped);
    }
    result += mapped;
  }
  return result;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** DuckDB's `lower`: simple case mapping, code point by code point (`lower('ΑΣ')` is 'ασ', not 'ας'). */
function lowerLikeDuckDb(text: string): string {
  return mapCase(text, false);
}

/** DuckDB's `upper`: simple case mapping, code point by code point (`upper('ß')` is 'ẞ', not 'SS'). */
function upperLikeDuckDb(text: string): string {
  return mapCase(text, true);
}

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;
/** 2^63: the first double beyond BIGINT. */
const BIGINT_LIMIT = 9_223_372_036_854_775_808;

/**
 * The timestamp functions are plain double arithmetic in both faces (floor,
 * `%`) so they agree bit for bit, even on fractional or negative input. DuckDB
 * ends each with `TRY_CAST(… AS BIGINT)`, so a non-finite or out-of-range
 * result is NULL there and null here.
 */
function asBigint(value: number): number | null {
  if (!(value >= -BIGINT_LIMIT && value < BIGINT_LIMIT)) return null; // also NaN
  return value === 0 ? 0 : value; // TRY_CAST turns -0.0 into 0
}

/** Hour of day (0..23, UTC) of epoch milliseconds. */
function hourOfDayUtc(epochMs: number): number | null {
  return asBigint(((Math.floor(epochMs / MS_PER_HOUR) % 24) + 24) % 24);
}

/** ISO day of week (1 = Monday .. 7 = Sunday, UTC) of epoch milliseconds; day 0 (1970-01-01) was a Thursday. */
function dayOfWeekUtc(epochMs: number): number | null {
  return asBigint(((((Math.floor(epochMs / MS_PER_DAY) + 3) % 7) + 7) % 7) + 1);
}

/** Epoch milliseconds truncated to a multiple of `unitMs` (UTC: epoch 0 is midnight). */
function truncateEpochMs(epochMs: number, unitMs: number): number | null {
  return asBigint(Math.floor(epochMs / unitMs) * unitMs);
}

// ---------------------------------------------------------------------------
// Code generation

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
  checkFieldName(name);
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
 * as DuckDB would return for the SQL face (`compileSql`).
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
