import { BraidError, ErrorCode } from '../errors/index.ts';

/*
 * Redis's HyperLogLog, bit for bit (src/hyperloglog.c, unchanged from Redis 5
 * through 7): the speed layer keeps each partition's registers of the sketch
 * PFADD would build (partition-sketch.ts), and the batch and serving
 * layers must build and merge the very same sketch, so a
 * count that straddles the batch/speed boundary is a union of registers, never
 * a sum of two estimates.
 */

/** Register index bits: 2^14 = 16384 registers, as Redis. */
const INDEX_BITS = 14;
/** Number of registers. */
export const REDIS_HLL_REGISTER_COUNT = 1 << INDEX_BITS;
const INDEX_MASK = REDIS_HLL_REGISTER_COUNT - 1;
/** Hash bits left after the index; the longest zero run Redis can see is this + 1. */
const RUN_BITS = 64 - INDEX_BITS;
/** Largest value a hash can put into a register (a run of 50 zeros, then the sentinel). */
const MAX_HASHED_VALUE = RUN_BITS + 1;
/** A dense register has 6 bits; Redis accepts any 6-bit value in a dense string. */
const MAX_DENSE_VALUE = 63;
/** Redis's seed for MurmurHash64A in hllPatLen(). */
export const REDIS_HLL_SEED = 0xadc83b19;
/** 0.5 / ln 2, Redis's HLL_ALPHA_INF, written with the same digits so it parses to the same double. */
const ALPHA_INF = 0.72134752044448170368;

const HEADER_BYTES = 16;
const DENSE_BYTES = HEADER_BYTES + (REDIS_HLL_REGISTER_COUNT * 6) / 8;
const ENCODING_DENSE = 0;
const ENCODING_SPARSE = 1;
/** Byte offset of the cached cardinality's most significant byte; its MSB set means "stale". */
const CARD_MSB_OFFSET = 15;
/** Sparse opcodes (Redis: 00xxxxxx ZERO, 01xxxxxx xxxxxxxx XZERO, 1vvvvvxx VAL). */
const SPARSE_ZERO_MAX_RUN = 64;
const SPARSE_XZERO_MAX_RUN = REDIS_HLL_REGISTER_COUNT;
const SPARSE_VAL_MAX_VALUE = 32;
const SPARSE_VAL_MAX_RUN = 4;
/** Non-zero registers past which a sketch holds all 16384 (16 KB) instead of a sorted list of positions (4 KB at most). */
const SPARSE_MAX_REGISTERS = 1024;

// MurmurHash64A's multiplier 0xc6a4a7935bd1e995 as 32-bit halves (and the low
// half as 16-bit quarters): the hash works on (hi, lo) int32 pairs with
// Math.imul so that the per-element path needs no BigInt, which allocates and
// is tens of times slower.
const M_HI = 0xc6a4a793 | 0;
const M_LO = 0x5bd1e995 | 0;
const M_LO_LOW16 = 0xe995;
const M_LO_HIGH16 = 0x5bd1;

// Results of mulM() below. Module-level outputs instead of a returned pair
// keep the per-element path free of allocation.
let outHi = 0;
let outLo = 0;

/** (hi, lo) × 0xc6a4a7935bd1e995 mod 2^64 into (outHi, outLo). */
function mulM(hi: number, lo: number): void {
  // Math.imul gives only the low 32 bits of lo × M_LO; the carry into the high
  // word comes from schoolbook 16-bit partial products, each exact (< 2^32).
  const lo0 = lo & 0xffff;
  const lo1 = lo >>> 16;
  const p00 = lo0 * M_LO_LOW16;
  const p01 = lo0 * M_LO_HIGH16;
  const p10 = lo1 * M_LO_LOW16;
  const middle = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const carry = lo1 * M_LO_HIGH16 + (p01 >>> 16) + (p10 >>> 16) + (middle >>> 16);
  outLo = Math.imul(lo, M_LO);
  outHi = (carry + Math.imul(hi, M_LO) + Math.imul(lo, M_HI)) | 0;
}

/**
 * MurmurHash64A of `bytes[0, length)` into (outHi, outLo), as Redis computes
 * it (little-endian 8-byte blocks on every architecture).
 */
function murmurInto(bytes: Uint8Array, length: number, seed: number): void {
  // h = seed ^ (length × m): length is a non-negative int, so it is (0, length).
  mulM(0, length);
  let hHi = outHi;
  let hLo = outLo ^ seed;
  const blocksEnd = length - (length & 7);
  let i = 0;
  for (; i < blocksEnd; i += 8) {
    const kLo = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    const kHi = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    mulM(kHi, kLo);
    // k ^= k >> 47: only the top 17 bits survive, landing in the low word.
    mulM(outHi, outLo ^ (outHi >>> 15));
    hHi ^= outHi;
    hLo ^= outLo;
    mulM(hHi, hLo);
    hHi = outHi;
    hLo = outLo;
  }
  const tail = length & 7;
  if (tail > 0) {
    // Redis's fall-through switch: tail byte j lands at bit 8j of h.
    if (tail >= 7) hHi ^= bytes[i + 6]! << 16;
    if (tail >= 6) hHi ^= bytes[i + 5]! << 8;
    if (tail >= 5) hHi ^= bytes[i + 4]!;
    if (tail >= 4) hLo ^= bytes[i + 3]! << 24;
    if (tail >= 3) hLo ^= bytes[i + 2]! << 16;
    if (tail >= 2) hLo ^= bytes[i + 1]! << 8;
    hLo ^= bytes[i]!;
    mulM(hHi, hLo);
    hHi = outHi;
    hLo = outLo;
  }
  hLo ^= hHi >>> 15;
  mulM(hHi, hLo);
  outLo ^= outHi >>> 15;
}

/**
 * Redis's MurmurHash64A (MurmurHash2, 64-bit, endian-neutral) of `bytes`, as
 * an unsigned 64-bit bigint. For tests and diagnostics; sketches hash through
 * an allocation-free path.
 *
 * @example
 * murmurHash64A(new TextEncoder().encode('hello')); // the hash PFADD uses for "hello"
 */
export function murmurHash64A(bytes: Uint8Array, seed: number = REDIS_HLL_SEED): bigint {
  murmurInto(bytes, bytes.length, seed >>> 0);
  return (BigInt(outHi >>> 0) << 32n) | BigInt(outLo >>> 0);
}

/** Count-trailing-zeros of a non-zero 32-bit value. */
function ctz32(value: number): number {
  return 31 - Math.clz32(value & -value);
}

// UTF-8 scratch space reused across add() calls; grows to the longest value seen.
let scratch = new Uint8Array(256);
const utf8 = new TextEncoder();

/**
 * Writes `value` as UTF-8 into `scratch`, returning the byte length. Lone
 * surrogates become U+FFFD, exactly as Buffer (and so ioredis) encodes them.
 */
function encodeUtf8(value: string): number {
  const length = value.length;
  if (scratch.length < length * 3) scratch = new Uint8Array(Math.max(length * 3, scratch.length * 2));
  // Most values (ids, URLs, country codes) are ASCII: copy code units directly.
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x80) return utf8.encodeInto(value, scratch).written;
    scratch[i] = code;
  }
  return length;
}

/**
 * Where PFADD puts `value`: its register (0–16383) times 64 plus the value it
 * offers that register (1–51), as one integer. Lets a query engine build the
 * registers of many sketches by joining each element to its position and
 * taking the largest value per register, without hashing in SQL.
 *
 * @example
 * const position = redisHllPosition('u00042');
 * const register = position >> 6, value = position & 63;
 */
export function redisHllPosition(value: string): number {
  const length = encodeUtf8(value);
  murmurInto(scratch, length, REDIS_HLL_SEED);
  const index = outLo & INDEX_MASK;
  // The run is counted over hash bits 14..63 plus a sentinel one at bit 64,
  // so it is 1..51 (Redis: ctz((hash >> 14) | 1 << 50) + 1).
  const lowRun = outLo >>> INDEX_BITS;
  const value6 = lowRun !== 0 ? ctz32(lowRun) + 1 : outHi !== 0 ? 32 - INDEX_BITS + ctz32(outHi) + 1 : MAX_HASHED_VALUE;
  return index * 64 + value6;
}

/** Ertl's σ(x) (arXiv:1702.01284), iterated exactly as Redis's hllSigma(). */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous !== z);
  return z;
}

/** Ertl's τ(x) (arXiv:1702.01284), iterated exactly as Redis's hllTau(). */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    // Redis writes pow(1 - x, 2), which compilers fold to this product.
    z -= (1 - x) * (1 - x) * y;
  } while (previous !== z);
  return z / 3;
}

function invalidInput(message: string, fields: Record<string, unknown> = {}): BraidError {
  return new BraidError(ErrorCode.BAD_ARGUMENT, message, { fields });
}

/**
 * A HyperLogLog sketch identical to the one Redis keeps for PFADD/PFCOUNT:
 * same hash, same 16384 registers, same estimator, same byte encodings. A key
 * built with PFADD and a RedisHll fed the same elements have the same
 * registers, and {@link RedisHll.count} equals PFCOUNT.
 *
 * A sketch with few non-zero registers (most cells of a window and group)
 * holds just those, as a sorted list of positions (register × 64 + value), so
 * building, copying, merging and counting it cost what it holds, not 16 KB.
 * Past {@link SPARSE_MAX_REGISTERS} it holds every register, one byte each
 * (not 6-bit packed), so add and merge are plain array operations; packing
 * happens only in {@link RedisHll.toRedisBytes}.
 *
 * @example
 * const today = RedisHll.empty();
 * for (const user of ['ann', 'bob', 'ann']) today.add(user);
 * today.count(); // 2
 * const speed = RedisHll.fromRedisBytes(await redis.getBuffer(key));
 * today.merge(speed); // union, not a sum
 */
export class RedisHll {
  /** Every register, one byte each; null while the sketch is sparse. */
  #dense: Uint8Array | null;
  /** While sparse: the non-zero registers' positions in ascending order, in the first `#size` slots. */
  #positions: Int32Array;
  #size: number;
  /** The estimate, kept until a register changes; undefined when stale. */
  #cachedCount: number | undefined;

  /** Takes `dense` (or `positions`) as its own: every caller passes a fresh array. */
  private constructor(dense: Uint8Array | null, positions: Int32Array = NO_POSITIONS, size = 0) {
    this.#dense = dense;
    this.#positions = positions;
    this.#size = size;
    this.#cachedCount = undefined;
  }

  /** A sketch of nothing: every register zero, count() 0. */
  static empty(): RedisHll {
    const sketch = new RedisHll(null);
    sketch.#cachedCount = 0;
    return sketch;
  }

  /**
   * A sketch with these register values (copied). Throws a BAD_ARGUMENT
   * BraidError unless there are exactly 16384 values, each 0–63.
   *
   * @example
   * RedisHll.fromRegisters(other.registers()).count() === other.count(); // true
   */
  static fromRegisters(registers: Uint8Array): RedisHll {
    if (registers.length !== REDIS_HLL_REGISTER_COUNT) {
      throw invalidInput(`a Redis HyperLogLog has ${REDIS_HLL_REGISTER_COUNT} registers, got ${registers.length}`, {
        registerCount: registers.length,
      });
    }
    const copy = registers.slice();
    // Four registers at a time: a value above 63 has bit 6 or 7 set.
    const words = new Uint32Array(copy.buffer, 0, REDIS_HLL_REGISTER_COUNT / 4);
    for (let w = 0; w < words.length; w++) {
      if ((words[w]! & 0xc0c0c0c0) === 0) continue;
      for (let i = w * 4; i < w * 4 + 4; i++) {
        if (copy[i]! > MAX_DENSE_VALUE) {
          throw invalidInput(`register ${i} is ${copy[i]}, but registers are 6 bits (0–${MAX_DENSE_VALUE})`, { register: i });
        }
      }
    }
    return new RedisHll(copy);
  }

  /**
   * Decodes the string Redis stores under a HyperLogLog key (GET it as a
   * Buffer, e.g. ioredis `getBuffer`), in either the dense or the sparse
   * encoding. Throws a BAD_ARGUMENT BraidError for anything Redis itself
   * would reject (wrong magic, unknown encoding, wrong dense length, sparse
   * runs that do not cover exactly 16384 registers).
   *
   * @example
   * const sketch = RedisHll.fromRedisBytes(await redis.getBuffer(key));
   */
  static fromRedisBytes(bytes: Uint8Array): RedisHll {
    if (bytes.length < HEADER_BYTES) {
      throw invalidInput(`not a Redis HyperLogLog: ${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`, {
        lengthBytes: bytes.length,
      });
    }
    if (bytes[0] !== 0x48 || bytes[1] !== 0x59 || bytes[2] !== 0x4c || bytes[3] !== 0x4c) {
      throw invalidInput('not a Redis HyperLogLog: the value does not start with "HYLL"', { lengthBytes: bytes.length });
    }
    const encoding = bytes[4];
    if (encoding === ENCODING_DENSE) return new RedisHll(decodeDense(bytes));
    if (encoding === ENCODING_SPARSE) return new RedisHll(decodeSparse(bytes));
    throw invalidInput(`not a Redis HyperLogLog: unknown encoding ${encoding} (0 is dense, 1 is sparse)`, { encoding });
  }

  /**
   * The sketch whose registers are the largest values among `positions`, each
   * a {@link redisHllPosition} (register × 64 + value), in any order, repeats
   * allowed: how the batch layer stores sketches, since DuckDB can gather
   * positions but not hash. Throws a BAD_ARGUMENT BraidError for a position
   * outside the registers or a value outside 1–63.
   *
   * @example
   * RedisHll.fromPositions(['a', 'b'].map(redisHllPosition)).count(); // 2
   */
  static fromPositions(positions: ArrayLike<number>): RedisHll {
    const count = positions.length;
    const sorted = new Int32Array(count);
    for (let index = 0; index < count; index++) {
      const position = positions[index]!;
      if (!Number.isInteger(position) || position < 0 || position >> 6 >= REDIS_HLL_REGISTER_COUNT || (position & 63) === 0) {
        throw invalidInput(`${position} is not a HyperLogLog position (register 0–${REDIS_HLL_REGISTER_COUNT - 1} × 64 + value 1–63)`, { position });
      }
      sorted[index] = position;
    }
    sorted.sort();
    // Ascending, so the last position of a register carries its largest value.
    let size = 0;
    for (let index = 0; index < count; index++) {
      const position = sorted[index]!;
      if (size > 0 && sorted[size - 1]! >> 6 === position >> 6) sorted[size - 1] = position;
      else sorted[size++] = position;
    }
    return size > SPARSE_MAX_REGISTERS ? new RedisHll(toRegisters(sorted, size)) : new RedisHll(null, sorted, size);
  }

  /**
   * Reads {@link RedisHll.serialize}'s text back, or a JSON list of
   * positions (`[p, …]`, see {@link RedisHll.fromPositions}). Throws a
   * BAD_ARGUMENT BraidError if it is neither base64 of a valid Redis
   * HyperLogLog nor such a list.
   */
  static deserialize(text: string): RedisHll {
    if (text.startsWith('[')) {
      let positions: unknown;
      try {
        positions = JSON.parse(text);
      } catch {
        positions = undefined;
      }
      if (!Array.isArray(positions) || !positions.every((position) => typeof position === 'number')) {
        throw invalidInput('a HyperLogLog position list is a JSON array of integers', { lengthChars: text.length });
      }
      return RedisHll.fromPositions(positions as number[]);
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw invalidInput('a serialized Redis HyperLogLog is standard base64 text', { lengthChars: text.length });
    }
    return RedisHll.fromRedisBytes(Buffer.from(text, 'base64'));
  }

  /**
   * Adds one element: its UTF-8 bytes are what PFADD would receive for the
   * same string. Values that are not strings (numbers, dates) must be turned
   * into text the same way the speed layer sends them to Redis.
   */
  add(value: string): void {
    const position = redisHllPosition(value);
    const dense = this.#dense;
    if (dense !== null) {
      const index = position >> 6;
      const value6 = position & 63;
      if (value6 > dense[index]!) {
        dense[index] = value6;
        this.#cachedCount = undefined;
      }
      return;
    }
    const register = position >> 6;
    let positions = this.#positions;
    const size = this.#size;
    const at = lowerBound(positions, size, register << 6);
    if (at < size && positions[at]! >> 6 === register) {
      if (positions[at]! >= position) return;
      positions[at] = position;
      this.#cachedCount = undefined;
      return;
    }
    if (size === positions.length) {
      const grown = new Int32Array(Math.max(8, size * 2));
      grown.set(positions);
      this.#positions = positions = grown;
    }
    positions.copyWithin(at + 1, at, size);
    positions[at] = position;
    this.#size = size + 1;
    this.#cachedCount = undefined;
    if (this.#size > SPARSE_MAX_REGISTERS) this.#toDense();
  }

  /** Makes this sketch the union of itself and `other` (register-wise max). */
  merge(other: RedisHll): void {
    const theirs = other.#dense;
    const mine = this.#dense;
    let changed = false;
    if (theirs === null) {
      if (other.#size === 0) return;
      if (mine === null) {
        this.#mergeSparse(other.#positions, other.#size);
        return;
      }
      const positions = other.#positions;
      for (let index = 0; index < other.#size; index++) {
        const register = positions[index]! >> 6;
        const value = positions[index]! & 63;
        if (value > mine[register]!) {
          mine[register] = value;
          changed = true;
        }
      }
    } else if (mine === null) {
      // Their registers, raised by ours.
      const registers = theirs.slice();
      for (let index = 0; index < this.#size; index++) {
        const register = this.#positions[index]! >> 6;
        const value = this.#positions[index]! & 63;
        if (value > registers[register]!) registers[register] = value;
      }
      this.#dense = registers;
      this.#positions = NO_POSITIONS;
      this.#size = 0;
      changed = true;
    } else {
      for (let i = 0; i < REDIS_HLL_REGISTER_COUNT; i++) {
        const value = theirs[i]!;
        if (value > mine[i]!) {
          mine[i] = value;
          changed = true;
        }
      }
    }
    if (changed) this.#cachedCount = undefined;
  }

  /** Both sparse: the sorted union of the two position lists, each register at its larger value. */
  #mergeSparse(theirs: Int32Array, theirSize: number): void {
    const mine = this.#positions;
    const mySize = this.#size;
    const merged = new Int32Array(mySize + theirSize);
    let size = 0;
    let i = 0;
    let j = 0;
    let changed = false;
    while (i < mySize && j < theirSize) {
      const a = mine[i]!;
      const b = theirs[j]!;
      const registerA = a >> 6;
      const registerB = b >> 6;
      if (registerA < registerB) {
        merged[size++] = a;
        i++;
      } else if (registerB < registerA) {
        merged[size++] = b;
        j++;
        changed = true;
      } else {
        // Same register: the larger position holds the larger value.
        if (b > a) changed = true;
        merged[size++] = b > a ? b : a;
        i++;
        j++;
      }
    }
    while (i < mySize) merged[size++] = mine[i++]!;
    if (j < theirSize) changed = true;
    while (j < theirSize) merged[size++] = theirs[j++]!;
    if (!changed) return;
    this.#cachedCount = undefined;
    if (size > SPARSE_MAX_REGISTERS) {
      this.#dense = toRegisters(merged, size);
      this.#positions = NO_POSITIONS;
      this.#size = 0;
    } else {
      this.#positions = merged;
      this.#size = size;
    }
  }

  #toDense(): void {
    this.#dense = toRegisters(this.#positions, this.#size);
    this.#positions = NO_POSITIONS;
    this.#size = 0;
  }

  /** An independent copy, so a roll-up can merge into it without touching the source. */
  clone(): RedisHll {
    const copy = this.#dense !== null ? new RedisHll(this.#dense.slice()) : new RedisHll(null, this.#positions.slice(0, this.#size), this.#size);
    copy.#cachedCount = this.#cachedCount;
    return copy;
  }

  /**
   * The estimated number of distinct elements: Redis's hllCount() (Ertl's
   * improved estimator with σ and τ), so it equals PFCOUNT on the same
   * registers. Standard error is about 0.81%.
   */
  count(): number {
    if (this.#cachedCount !== undefined) return this.#cachedCount;
    // 64 slots as Redis: values above 51 can only come from a hand-made dense
    // string, and Redis's formula ignores them — so must we, to agree.
    const histogram = new Int32Array(64);
    const registers = this.#dense;
    if (registers === null) {
      histogram[0] = REDIS_HLL_REGISTER_COUNT - this.#size;
      for (let index = 0; index < this.#size; index++) histogram[this.#positions[index]! & 63]!++;
    } else {
      // Four registers at a time, skipping zero words.
      const words = new Uint32Array(registers.buffer, registers.byteOffset, REDIS_HLL_REGISTER_COUNT / 4);
      for (let w = 0; w < words.length; w++) {
        if (words[w] === 0) {
          histogram[0]! += 4;
          continue;
        }
        const i = w * 4;
        histogram[registers[i]!]!++;
        histogram[registers[i + 1]!]!++;
        histogram[registers[i + 2]!]!++;
        histogram[registers[i + 3]!]!++;
      }
    }
    const m = REDIS_HLL_REGISTER_COUNT;
    // The order of these floating-point steps is Redis's; reordering them can
    // move the result by one.
    let z = m * tau((m - histogram[MAX_HASHED_VALUE]!) / m);
    for (let j = RUN_BITS; j >= 1; j--) {
      z += histogram[j]!;
      z *= 0.5;
    }
    z += m * sigma(histogram[0]! / m);
    // llroundl rounds halves away from zero; for a non-negative value Math.round agrees.
    this.#cachedCount = Math.round((ALPHA_INF * m * m) / z);
    return this.#cachedCount;
  }

  /** A copy of the 16384 register values (0–63, one per byte). */
  registers(): Uint8Array {
    return this.#dense !== null ? this.#dense.slice() : toRegisters(this.#positions, this.#size);
  }

  /**
   * The dense Redis encoding (12304 bytes: "HYLL" header, then 6-bit packed
   * registers), with the cached cardinality marked stale so Redis recomputes
   * it. SET it under a key and PFCOUNT/PFADD/PFMERGE treat it as their own.
   *
   * @example
   * await redis.set(key, sketch.toRedisBytes());
   * await redis.pfcount(key); // === sketch.count()
   */
  toRedisBytes(): Buffer {
    return encodeDense(this.#dense ?? toRegisters(this.#positions, this.#size));
  }

  /**
   * Stable text for Parquet/JSON: base64 of a valid Redis encoding — the
   * sparse one while every register fits it (≤ 32) and it is shorter, else the
   * dense one. An empty sketch is 24 characters, a full dense one 16408.
   * Decoding the base64 gives bytes Redis accepts as-is.
   *
   * @example
   * RedisHll.deserialize(sketch.serialize()).count() === sketch.count(); // true
   */
  serialize(): string {
    const registers = this.#dense ?? toRegisters(this.#positions, this.#size);
    return (encodeSparse(registers) ?? encodeDense(registers)).toString('base64');
  }
}

/** The shared empty position list of dense and empty sketches (never written: a sparse sketch grows into a new array). */
const NO_POSITIONS = new Int32Array(0);

/** The first index in `positions[0, size)` whose position is at least `from`. */
function lowerBound(positions: Int32Array, size: number, from: number): number {
  let low = 0;
  let high = size;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (positions[middle]! < from) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The 16384 registers of sorted, one-per-register positions. */
function toRegisters(positions: Int32Array, size: number): Uint8Array {
  const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
  for (let index = 0; index < size; index++) registers[positions[index]! >> 6] = positions[index]! & 63;
  return registers;
}

/** The dense Redis encoding of `registers` (see {@link RedisHll.toRedisBytes}). */
function encodeDense(registers: Uint8Array): Buffer {
  const bytes = Buffer.alloc(DENSE_BYTES);
  writeHeader(bytes, ENCODING_DENSE);
  // Four 6-bit registers fill three bytes, least significant bits first.
  for (let r = 0, b = HEADER_BYTES; r < REDIS_HLL_REGISTER_COUNT; r += 4, b += 3) {
    const r0 = registers[r]!;
    const r1 = registers[r + 1]!;
    const r2 = registers[r + 2]!;
    const r3 = registers[r + 3]!;
    bytes[b] = r0 | ((r1 & 0x03) << 6);
    bytes[b + 1] = (r1 >> 2) | ((r2 & 0x0f) << 4);
    bytes[b + 2] = (r2 >> 4) | (r3 << 2);
  }
  return bytes;
}

/** "HYLL", the encoding, three zero bytes, and a zero cardinality flagged stale. */
function writeHeader(bytes: Buffer, encoding: number): void {
  bytes.write('HYLL', 0, 'latin1');
  bytes[4] = encoding;
  bytes[CARD_MSB_OFFSET] = 0x80;
}

function decodeDense(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== DENSE_BYTES) {
    throw invalidInput(`not a Redis HyperLogLog: a dense one is ${DENSE_BYTES} bytes, this is ${bytes.length}`, {
      lengthBytes: bytes.length,
      encoding: 'dense',
    });
  }
  const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
  for (let r = 0, b = HEADER_BYTES; r < REDIS_HLL_REGISTER_COUNT; r += 4, b += 3) {
    const b0 = bytes[b]!;
    const b1 = bytes[b + 1]!;
    const b2 = bytes[b + 2]!;
    registers[r] = b0 & 63;
    registers[r + 1] = ((b0 >> 6) | (b1 << 2)) & 63;
    registers[r + 2] = ((b1 >> 4) | (b2 << 4)) & 63;
    registers[r + 3] = b2 >> 2;
  }
  return registers;
}

function decodeSparse(bytes: Uint8Array): Uint8Array {
  const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
  const corrupt = (why: string): BraidError =>
    invalidInput(`corrupt sparse Redis HyperLogLog: ${why}`, { lengthBytes: bytes.length, encoding: 'sparse' });
  let index = 0;
  let p = HEADER_BYTES;
  while (p < bytes.length) {
    const opcode = bytes[p]!;
    if ((opcode & 0xc0) === 0) {
      index += (opcode & 0x3f) + 1;
      p += 1;
    } else if ((opcode & 0xc0) === 0x40) {
      if (p + 1 >= bytes.length) throw corrupt(`XZERO opcode cut short at byte ${p}`);
      index += (((opcode & 0x3f) << 8) | bytes[p + 1]!) + 1;
      p += 2;
    } else {
      const run = (opcode & 0x03) + 1;
      const value = ((opcode >> 2) & 0x1f) + 1;
      if (index + run > REDIS_HLL_REGISTER_COUNT) break; // reported below
      registers.fill(value, index, index + run);
      index += run;
      p += 1;
    }
    if (index > REDIS_HLL_REGISTER_COUNT) break;
  }
  if (index !== REDIS_HLL_REGISTER_COUNT || p < bytes.length) {
    throw corrupt(`its runs cover ${index} registers, not ${REDIS_HLL_REGISTER_COUNT}`);
  }
  return registers;
}

/**
 * The sparse Redis encoding of `registers`, or undefined when a register is
 * too large for it (> 32) or it would not be shorter than the dense one.
 */
function encodeSparse(registers: Uint8Array): Buffer | undefined {
  // At most one 2-byte opcode per register would be far past the dense size,
  // so stop as soon as we pass it.
  const out = Buffer.alloc(DENSE_BYTES);
  writeHeader(out, ENCODING_SPARSE);
  let p = HEADER_BYTES;
  let i = 0;
  while (i < REDIS_HLL_REGISTER_COUNT) {
    const value = registers[i]!;
    if (value > SPARSE_VAL_MAX_VALUE) return undefined;
    let run = 1;
    while (i + run < REDIS_HLL_REGISTER_COUNT && registers[i + run] === value) run++;
    i += run;
    while (run > 0) {
      if (p + 2 > DENSE_BYTES) return undefined;
      if (value === 0 && run > SPARSE_ZERO_MAX_RUN) {
        const length = Math.min(run, SPARSE_XZERO_MAX_RUN);
        out[p++] = 0x40 | ((length - 1) >> 8);
        out[p++] = (length - 1) & 0xff;
        run -= length;
      } else if (value === 0) {
        out[p++] = run - 1;
        run = 0;
      } else {
        const length = Math.min(run, SPARSE_VAL_MAX_RUN);
        out[p++] = 0x80 | ((value - 1) << 2) | (length - 1);
        run -= length;
      }
    }
  }
  return p < DENSE_BYTES ? out.subarray(0, p) : undefined;
}
