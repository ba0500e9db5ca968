import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { clickstream, type FieldSpec } from '../../shared/sources/index.ts';
import {
  add,
  and,
  coalesce,
  compileJs,
  compileJsPredicate,
  compileSql,
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
  typeOf,
  upper,
  type Expr,
  type ExprNode,
} from '../../shared/views/expr/index.ts';

// The contract between the two faces: every expression below is evaluated by
// the compiled JS function over ROWS and by DuckDB over the same rows in a
// table, and the results must be equal row by row.

const FIELDS = {
  id: { type: 'int' },
  s: { type: 'string', nullable: true },
  s2: { type: 'string', nullable: true },
  n: { type: 'int', nullable: true },
  x: { type: 'float', nullable: true },
  y: { type: 'float', nullable: true },
  b: { type: 'bool', nullable: true },
  c: { type: 'bool', nullable: true },
  ts: { type: 'timestampMs', nullable: true },
} as const satisfies Record<string, FieldSpec>;

type Row = { [K in keyof typeof FIELDS]: K extends 'id' ? number : string | number | boolean | null };

const SQL_TYPE: Record<FieldSpec['type'], string> = {
  string: 'VARCHAR',
  int: 'BIGINT',
  float: 'DOUBLE',
  bool: 'BOOLEAN',
  timestampMs: 'BIGINT',
};

const JAN_1_2026 = Date.UTC(2026, 0, 1); // a Thursday
const SUNDAY_LAST_MS = Date.UTC(2026, 0, 4, 23, 59, 59, 999);
const MONDAY_FIRST_MS = Date.UTC(2026, 0, 5);
const HOUR_MS = 3_600_000;

const ROWS: Row[] = [
  { id: 1, s: 'US', s2: 'us', n: 3, x: 1.5, y: 0, b: true, c: false, ts: JAN_1_2026 },
  { id: 2, s: "O'Brien", s2: "O'", n: -7, x: -2.25, y: -0.5, b: false, c: null, ts: JAN_1_2026 - 1 },
  { id: 3, s: '', s2: '', n: 0, x: 0, y: 0, b: null, c: true, ts: SUNDAY_LAST_MS },
  { id: 4, s: null, s2: 'x', n: null, x: null, y: 2, b: null, c: null, ts: null },
  { id: 5, s: 'Ünïcödé ß İ ΣΑΣ ǅ ﬀ ᾳ', s2: 'Ünï', n: 2, x: 0.1, y: 0.2, b: true, c: true, ts: MONDAY_FIRST_MS },
  { id: 6, s: '😀 emoji 🇺🇸', s2: '😀', n: 1_000_000, x: 1e300, y: 1e-300, b: false, c: false, ts: 0 },
  // U+FF5E sorts before U+1F600 in code point order (DuckDB), after it in UTF-16 order (JS <).
  { id: 7, s: '～ fullwidth', s2: '😀', n: -1, x: -0, y: 3, b: true, c: null, ts: -1 },
  { id: 8, s: 'line\nbreak\t"dq" \\ back', s2: 'line', n: 5, x: 7, y: -0, b: false, c: true, ts: JAN_1_2026 + 14 * HOUR_MS - 1 },
  { id: 9, s: "x'; DROP TABLE t; --", s2: "'", n: 10, x: null, y: null, b: true, c: true, ts: JAN_1_2026 + 36 * HOUR_MS },
  { id: 10, s: 'a\u0000b', s2: 'A', n: 9_007_199_254_740_991, x: -1e-7, y: 0, b: null, c: false, ts: Date.UTC(2100, 0, 1) },
  { id: 11, s: 'Ᲊ is Unicode 16', s2: 'ǆ', n: -3, x: 2.5, y: 2.5, b: false, c: false, ts: JAN_1_2026 + 59_999 },
];

const f = {
  s: field('s'),
  s2: field('s2'),
  n: field('n'),
  x: field('x'),
  y: field('y'),
  b: field('b'),
  c: field('c'),
  ts: field('ts'),
};

const CASES: Array<[string, Expr]> = [
  // comparisons
  ['eq string literal', eq(f.s, 'US')],
  ['eq two fields', eq(f.s, f.s2)],
  ['ne quoted literal', ne(f.s, "O'Brien")],
  ['lt strings in code point order', lt(f.s, f.s2)],
  ['le string literal', le(f.s, 'a')],
  ['ge literal on the left', ge('b', f.s)],
  ['gt int', gt(f.n, 0)],
  ['ge floats', ge(f.x, f.y)],
  ['lt float with int', lt(f.x, f.n)],
  ['gt literal on the left', gt(1, f.n)],
  ['eq with null literal', eq(f.n, null)],
  ['eq bools', eq(f.b, f.c)],
  ['ne bool literal', ne(f.b, true)],
  ['eq -0 and 0', eq(f.x, 0)],
  ['eq timestamp with number', eq(f.ts, JAN_1_2026)],
  // NaN, as DuckDB has it: equal to itself, above everything
  ['NaN = NaN', eq(div(f.y, f.y), div(f.x, f.x))],
  ['NaN > huge', gt(div(f.x, f.y), 1e300)],
  ['NaN < n', lt(div(f.y, f.y), f.n)],
  ['n <= NaN', le(f.n, div(f.y, f.y))],
  ['NaN >= NaN', ge(div(f.y, f.y), div(f.y, f.y))],
  ['literal < NaN', lt(5, div(f.y, f.y))],
  ['NaN <> literal', ne(div(f.y, f.y), 5)],
  // three-valued logic
  ['and (every pair of true/false/null)', and(f.b, f.c)],
  ['or', or(f.b, f.c)],
  ['not', not(f.b)],
  ['and of three', and(f.b, f.c, gt(f.n, 0))],
  ['or with null literal', or(null, f.b)],
  ['and with true literal', and(true, f.c)],
  ['or of three with a comparison', or(f.b, f.c, lt(f.x, 0))],
  ['not of a comparison', not(eq(f.s, 'US'))],
  // arithmetic
  ['add int and float', add(f.n, f.x)],
  ['sub literal', sub(f.n, 5)],
  ['sub negative float literal', sub(f.x, -2.5)],
  ['mul floats (overflow to Infinity)', mul(f.x, f.x)],
  ['mul by negative float', mul(f.n, -1.5)],
  ['div int by int is float division', div(f.n, 2)],
  ['div by zero literal', div(f.n, 0)],
  ['div floats with zeros and -0', div(f.x, f.y)],
  ['div null by zero', div(null, 0)],
  ['0.1 + 0.2 is a double sum', add(0.1, 0.2)],
  ['add floats', add(f.x, f.y)],
  ['timestamp minus timestamp', sub(f.ts, f.ts)],
  ['timestamp plus ms', add(f.ts, 1000)],
  ['epoch seconds', div(f.ts, 1000)],
  // strings
  ['lower', lower(f.s)],
  ['upper', upper(f.s)],
  ['lower of upper', lower(upper(f.s2))],
  ['concat with a quote literal', concat(f.s, "-'-", f.s2)],
  ['concat with null literal', concat(f.s, null)],
  ['concat of one', concat(f.s2)],
  ['startsWith field', startsWith(f.s, f.s2)],
  ['startsWith empty', startsWith(f.s, '')],
  ['contains quote', contains(f.s, "'")],
  ['contains field', contains(f.s, f.s2)],
  ['contains emoji', contains(f.s, '😀')],
  ['length counts code points', length(f.s)],
  ['length of concat', length(concat(f.s2, f.s2))],
  ['eq lower', eq(lower(f.s2), 'us')],
  ['injection attempt is a string', eq(f.s, "x'; DROP TABLE t; --")],
  ['NUL in a literal', eq(f.s, 'a\u0000b')],
  ['newline, tab, double quote and backslash', eq(f.s, 'line\nbreak\t"dq" \\ back')],
  ['unicode literal', startsWith(f.s, 'Ünï')],
  // nulls
  ['isNull', isNull(f.s)],
  ['isNotNull', isNotNull(f.x)],
  ['isNull of null literal', isNull(null)],
  ['isNull of a comparison', isNull(gt(f.n, f.x))],
  // in
  ['in strings', inList(f.s, ['US', "O'Brien", ''])],
  ['in numbers, int and float', inList(f.n, [3, 0, 2.5, -7])],
  ['in floats', inList(f.x, [2.5, 0, 0.1])],
  ['in bools', inList(f.b, [true])],
  ['not in', not(inList(f.s, ['US']))],
  ['in with null literal', inList(null, [1])],
  // coalesce
  ['coalesce numbers', coalesce(f.x, f.y, 0)],
  ['coalesce strings', coalesce(f.s, f.s2)],
  ['coalesce bools after null literal', coalesce(null, f.b, f.c)],
  // time (UTC)
  ['hourOfDay', hourOfDay(f.ts)],
  ['dayOfWeek (Sunday 23:59 → 7, Monday 00:00 → 1)', dayOfWeek(f.ts)],
  ['truncTime minute', truncTime(f.ts, 'minute')],
  ['truncTime hour', truncTime(f.ts, 'hour')],
  ['truncTime day', truncTime(f.ts, 'day')],
  ['hourOfDay of NaN/Infinity is null', hourOfDay(div(f.x, 0))],
  ['truncTime of fractional and huge', truncTime(mul(f.x, 1000), 'minute')],
  ['dayOfWeek of fractional negative', dayOfWeek(mul(f.x, 86_400_000))],
  ['hourOfDay of fractional negative', hourOfDay(mul(f.x, 3_600_000))],
  ['dayOfWeek next day', dayOfWeek(add(f.ts, 86_400_000))],
  ['hourOfDay of null literal', hourOfDay(null)],
  ['eq hourOfDay', eq(hourOfDay(f.ts), 13)],
];

/** DuckDB returns BIGINT as bigint; JS numbers are what the JS face gives. */
function normalize(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

let instance: DuckDBInstance;
let conn: DuckDBConnection;

async function selectColumn(sql: string, from = 't'): Promise<unknown[]> {
  const reader = await conn.runAndReadAll(`SELECT ${sql} AS v FROM ${from} ORDER BY id`);
  return reader.getRowsJS().map((row) => normalize(row[0]));
}

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  const columns = Object.entries(FIELDS).map(([name, spec]) => `"${name}" ${SQL_TYPE[spec.type]}`);
  await conn.run(`CREATE TABLE t (${columns.join(', ')})`);
  // The appender takes values as they are: no SQL text is built from the data.
  const appender = await conn.createAppender('t');
  for (const row of ROWS) {
    for (const [name, spec] of Object.entries(FIELDS)) {
      const value = row[name as keyof Row];
      if (value === null) appender.appendNull();
      else if (spec.type === 'string') appender.appendVarchar(value as string);
      else if (spec.type === 'float') appender.appendDouble(value as number);
      else if (spec.type === 'bool') appender.appendBoolean(value as boolean);
      else appender.appendBigInt(BigInt(value as number));
    }
    appender.endRow();
  }
  appender.closeSync();
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

describe('the JS and SQL faces agree', () => {
  it('has a case table covering every function', () => {
    const used = new Set<string>();
    const visit = (node: ExprNode): void => {
      if (node.kind !== 'call') return;
      used.add(node.fn);
      node.args.forEach(visit);
    };
    CASES.forEach(([, expr]) => visit(expr.node));
    expect([...used].sort()).toEqual(
      [
        'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not', 'add', 'sub', 'mul', 'div', 'lower', 'upper', 'concat',
        'startsWith', 'contains', 'length', 'isNull', 'isNotNull', 'in', 'coalesce', 'hourOfDay', 'dayOfWeek', 'truncTime',
      ].sort(),
    );
  });

  it.each(CASES)('%s', async (_label, expr) => {
    typeOf(expr, FIELDS); // every case is a well-typed expression
    const js = compileJs(expr);
    const sql = compileSql(expr);
    const fromJs = ROWS.map((row) => js(row));
    const fromSql = await selectColumn(sql);
    expect(fromJs, sql).toEqual(fromSql);

    if (typeOf(expr, FIELDS) === 'bool') {
      const keep = compileJsPredicate(expr);
      const keptByJs = ROWS.filter((row) => keep(row)).map((row) => row.id);
      const reader = await conn.runAndReadAll(`SELECT id FROM t WHERE ${sql} ORDER BY id`);
      expect(keptByJs, `WHERE ${sql}`).toEqual(reader.getRowsJS().map((row) => normalize(row[0])));
    }
  });

  it('the injection attempt left the table alone', async () => {
    expect(await selectColumn('count(*) OVER ()')).toHaveLength(ROWS.length);
  });

  describe('over every Unicode code point', () => {
    beforeAll(async () => {
      // Code points 1..U+10FFFF but the surrogates, which UTF-8 cannot hold.
      await conn.run(
        'CREATE TABLE cps AS SELECT cp AS id, chr(cp::INTEGER) AS s FROM range(1, 1114112) r(cp) WHERE cp < 55296 OR cp > 57343',
      );
    });

    it('lower, upper and length agree on each code point', async () => {
      const exprs = { lower: lower(f.s), upper: upper(f.s), length: length(concat(f.s, 'a', f.s)) };
      const sql = { lower: compileSql(exprs.lower), upper: compileSql(exprs.upper), length: compileSql(exprs.length) };
      // Only the ~3000 code points DuckDB changes come back (reading a million rows through
      // node-api takes seconds); every other one must come out of the JS face unchanged.
      // Wrapped in <…> because node-api drops a leading U+FEFF from the strings it returns.
      const reader = await conn.runAndReadAll(
        `SELECT id, '<' || ${sql.lower} || '>', '<' || ${sql.upper} || '>' FROM cps WHERE ${sql.lower} <> s OR ${sql.upper} <> s`,
      );
      const changedBySql = new Map(reader.getRowsJS().map(([id, lowered, uppered]) => [Number(id), [lowered, uppered]]));
      const js = { lower: compileJs(exprs.lower), upper: compileJs(exprs.upper), length: compileJs(exprs.length) };
      const mismatches: string[] = [];
      for (let codePoint = 1; codePoint <= 0x10ffff; codePoint++) {
        if (codePoint === 0xd800) codePoint = 0xe000;
        const event = { s: String.fromCodePoint(codePoint) };
        const fromSql = changedBySql.get(codePoint) ?? [`<${event.s}>`, `<${event.s}>`];
        const fromJs = [`<${js.lower(event) as string}>`, `<${js.upper(event) as string}>`];
        // Collected rather than asserted one by one: a diff of a million rows would not help anyone.
        if (fromJs[0] !== fromSql[0] || fromJs[1] !== fromSql[1] || js.length(event) !== 3) {
          mismatches.push(`U+${codePoint.toString(16)}: js ${JSON.stringify(fromJs)} sql ${JSON.stringify(fromSql)}`);
        }
      }
      expect(changedBySql.size).toBeGreaterThan(2000);
      expect(mismatches.slice(0, 20)).toEqual([]);
      const lengths = await conn.runAndReadAll(`SELECT count(*) FROM cps WHERE ${sql.length} IS DISTINCT FROM 3`);
      expect(normalize(lengths.getRowsJS()[0]![0])).toBe(0);
    });
  });

  it('orders strings as DuckDB does, pair by pair', async () => {
    const samples = [
      '', 'a', 'A', 'ab', 'a\u0000', 'é', 'e\u0301', 'ÿ', 'Ā', '\u07ff', '\u0800', '\ud7ff', '\ue000', '～', '\uffff',
      '😀', '𐀀', '\u{10ffff}', '😀a', '～a', 'Z😀', 'Z～', '🇺🇸', '\u00a0', '中文',
    ];
    await conn.run('CREATE TABLE pairs (id BIGINT, s VARCHAR, s2 VARCHAR)');
    const appender = await conn.createAppender('pairs');
    const pairs: Array<{ id: number; s: string; s2: string }> = [];
    for (const s of samples) {
      for (const s2 of samples) {
        const pair = { id: pairs.length, s, s2 };
        pairs.push(pair);
        appender.appendBigInt(BigInt(pair.id));
        appender.appendVarchar(s);
        appender.appendVarchar(s2);
        appender.endRow();
      }
    }
    appender.closeSync();
    for (const expr of [lt(f.s, f.s2), le(f.s, f.s2), gt(f.s, f.s2), ge(f.s, f.s2), eq(f.s, f.s2), lt(f.s, '～'), gt('😀', f.s2)]) {
      const js = compileJs(expr);
      expect(
        pairs.map((pair) => js(pair)),
        compileSql(expr),
      ).toEqual(await selectColumn(compileSql(expr), 'pairs'));
    }
  });
});

describe('typeOf', () => {
  const expectConfigError = (run: () => unknown, message: RegExp): void => {
    let thrown: unknown;
    try {
      run();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BraidError);
    expect((thrown as BraidError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((thrown as BraidError).message).toMatch(message);
  };

  it('names an unknown field and lists the fields there are', () => {
    expectConfigError(
      () => typeOf(eq(field('urll'), '/'), clickstream.fields),
      /^unknown field "urll" \(fields: ts, user_id, session_id, url, country, device, revenue\)$/,
    );
  });

  it('names the function and the types it cannot compare', () => {
    expectConfigError(() => typeOf(gt(field('url'), 5), clickstream.fields), /^gt: cannot compare string with number$/);
    expectConfigError(() => typeOf(lt(field('b'), true), FIELDS), /^lt: cannot order bool values/);
  });

  it('names the function and the mistyped argument', () => {
    expectConfigError(() => typeOf(and(eq(field('url'), '/'), field('url')), clickstream.fields), /^and: expected a bool, argument 2 is string \(url\)$/);
    expectConfigError(() => typeOf(lower(field('revenue')), clickstream.fields), /^lower: expected a string, got number \(revenue\)$/);
    expectConfigError(() => typeOf(add(field('ts'), field('ts')), clickstream.fields), /^add: cannot add two timestamps$/);
    expectConfigError(() => typeOf(inList(field('country'), ['US', 1]), clickstream.fields), /^in: cannot compare string with number \(1\)$/);
    expectConfigError(() => typeOf(hourOfDay(field('url')), clickstream.fields), /^hourOfDay: expected a timestamp, got string \(url\)$/);
  });

  it('gives each expression its type', () => {
    const types = (expr: Expr) => typeOf(expr, clickstream.fields);
    expect(types(field('url'))).toBe('string');
    expect(types(field('revenue'))).toBe('number');
    expect(types(field('ts'))).toBe('timestamp');
    expect(types(and(eq(field('country'), 'US'), gt(field('revenue'), 0)))).toBe('bool');
    expect(types(coalesce(field('revenue'), 0))).toBe('number');
    expect(types(add(field('ts'), 60_000))).toBe('timestamp');
    expect(types(sub(field('ts'), field('ts')))).toBe('number');
    expect(types(truncTime(field('ts'), 'hour'))).toBe('timestamp');
    expect(types(hourOfDay(field('ts')))).toBe('number');
    expect(types(length(field('url')))).toBe('number');
    expect(types(eq(field('revenue'), null))).toBe('bool');
  });

  it('refuses an expression that is always null and malformed nodes', () => {
    expectConfigError(() => typeOf(lit(null), clickstream.fields), /always null/);
    expectConfigError(() => typeOf({ kind: 'call', fn: 'explode' as 'eq', args: [] }, clickstream.fields), /unknown function "explode"/);
    expectConfigError(() => typeOf({ kind: 'call', fn: 'not', args: [] }, clickstream.fields), /not: expected 1 argument, got 0/);
  });
});

describe('compileSql', () => {
  it('writes fields double-quoted and literals typed and escaped', () => {
    expect(compileSql(and(eq(field('country'), "O'Brien"), gt(field('revenue'), 0.5), ne(field('n'), -3)))).toBe(
      `(("country" = 'O''Brien') AND ("revenue" > CAST('0.5' AS DOUBLE)) AND ("n" <> CAST(-3 AS BIGINT)))`,
    );
    expect(compileSql(eq(field('s'), 'a\u0000b'))).toBe(`("s" = ('a' || chr(0) || 'b'))`);
  });

  it('keeps an injection attempt inside a string literal', () => {
    expect(compileSql(eq(field('s'), "x'; DROP TABLE t; --"))).toBe(`("s" = 'x''; DROP TABLE t; --')`);
  });

  it('rejects field names outside [a-z][a-z0-9_]*, in SQL and in JS', () => {
    const evil: ExprNode = { kind: 'field', name: 'x" OR 1=1 --' };
    expect(() => compileSql(evil)).toThrow(/must match \[a-z\]\[a-z0-9_\]\*/);
    expect(() => compileJs({ kind: 'call', fn: 'eq', args: [evil, { kind: 'lit', value: 1 }] })).toThrow(/must match/);
    expect(() => field('Country')).toThrow(/must match/);
    expect(() => compileSql({ kind: 'lit', value: Number.NaN })).toThrow(/finite/);
  });
});

describe('builders and compiled functions', () => {
  it('prints a stable text', () => {
    expect(exprToString(and(eq(field('country'), 'US'), gt(field('revenue'), 0)))).toBe("and(eq(country, 'US'), gt(revenue, 0))");
    expect(exprToString(inList(field('country'), ['US', 'CA']))).toBe("in(country, 'US', 'CA')");
    expect(exprToString(truncTime(field('ts'), 'hour'))).toBe("truncTime(ts, 'hour')");
    expect(exprToString(concat(lit("it's"), 'a\\b\n', null, true, 1.5))).toBe("concat('it\\'s', 'a\\\\b\\n', null, true, 1.5)");
    expect(exprToString(lit('1'))).not.toBe(exprToString(lit(1)));
    expect(String(field('a').eq(1))).toBe('eq(a, 1)');
  });

  it('has fluent shorthands that build the same nodes', () => {
    expect(field('n').gt(0).and(field('s').in(['a']), field('b').not()).node).toEqual(
      and(gt(field('n'), 0), inList(field('s'), ['a']), not(field('b'))).node,
    );
    expect(isExpr(field('n'))).toBe(true);
    expect(isExpr(field('n').node)).toBe(false);
  });

  it('refuses literals the two faces could not share', () => {
    expect(() => lit(Number.POSITIVE_INFINITY)).toThrow(/finite/);
    expect(() => lit('\ud800')).toThrow(/lone surrogate/);
    expect(() => inList(field('s'), [])).toThrow(/non-empty/);
    expect(() => truncTime(field('ts'), 'week' as 'day')).toThrow(/unit/);
    expect(() => eq(field('s'), undefined as never)).toThrow(/eq: expected an expression/);
  });

  it('a predicate is true only for exactly true; a missing field is null', () => {
    const keep = compileJsPredicate(gt(field('revenue'), 0));
    expect(keep({ revenue: 5 })).toBe(true);
    expect(keep({ revenue: null })).toBe(false);
    expect(keep({})).toBe(false);
    expect(compileJs(gt(field('revenue'), 0))({})).toBeNull();
    // `constructor` is a valid field name that every object inherits.
    expect(compileJs(field('constructor'))({})).toBeNull();
    expect(compileJs(field('constructor'))({ constructor: 'x' })).toBe('x');
  });

  it('evaluates a filter and a derived dimension on an event', () => {
    const event = { ts: Date.UTC(2026, 0, 4, 13, 30), country: 'US', revenue: 12.5, url: '/checkout' };
    expect(compileJsPredicate(and(eq(field('country'), 'US'), contains(field('url'), 'checkout')))(event)).toBe(true);
    expect(compileJs(hourOfDay(field('ts')))(event)).toBe(13);
    expect(compileJs(dayOfWeek(field('ts')))(event)).toBe(7);
    expect(compileJs(truncTime(field('ts'), 'day'))(event)).toBe(Date.UTC(2026, 0, 4));
  });
});
