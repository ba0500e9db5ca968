/**
 * The JS face's runtime: the few operations where JavaScript's built-ins and
 * DuckDB disagree, rewritten to do exactly what DuckDB does. The compiled
 * expressions (see `compileJs` in `expr.ts`) call these; everything else maps
 * to a plain JS operator.
 *
 * Every rule here was found by running DuckDB (1.5) and is pinned by the
 * equivalence tests in `test/unit/expr.test.ts`, some over every code point —
 * rerun them after upgrading DuckDB or Node (whose ICU brings its own Unicode
 * version).
 */

/**
 * DuckDB compares VARCHARs byte by byte in UTF-8, which is code point order.
 * JS `<` compares UTF-16 code units, which differs once a surrogate pair
 * (U+10000 and up, e.g. emoji) meets U+E000..U+FFFF (e.g. fullwidth forms):
 * JS puts `'😀' < '～'`, DuckDB the other way round.
 *
 * @example compareUtf8('～', '😀') < 0 // true, as in DuckDB
 */
export function compareUtf8(a: string, b: string): number {
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
export function codePointLength(text: string): number {
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
export function lowerLikeDuckDb(text: string): string {
  return mapCase(text, false);
}

/** DuckDB's `upper`: simple case mapping, code point by code point (`upper('ß')` is 'ẞ', not 'SS'). */
export function upperLikeDuckDb(text: string): string {
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
export function hourOfDayUtc(epochMs: number): number | null {
  return asBigint(((Math.floor(epochMs / MS_PER_HOUR) % 24) + 24) % 24);
}

/** ISO day of week (1 = Monday .. 7 = Sunday, UTC) of epoch milliseconds; day 0 (1970-01-01) was a Thursday. */
export function dayOfWeekUtc(epochMs: number): number | null {
  return asBigint(((((Math.floor(epochMs / MS_PER_DAY) + 3) % 7) + 7) % 7) + 1);
}

/** Epoch milliseconds truncated to a multiple of `unitMs` (UTC: epoch 0 is midnight). */
export function truncateEpochMs(epochMs: number, unitMs: number): number | null {
  return asBigint(Math.floor(epochMs / unitMs) * unitMs);
}
