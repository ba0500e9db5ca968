import { BraidError, ErrorCode } from '../errors/index.ts';
import { RedisHll, REDIS_HLL_REGISTER_COUNT } from './redis-hll.ts';

/** Leading byte of a stored sketch holding its non-zero registers as 3-byte positions. */
const POSITIONS = 0x50; // 'P'
/** Leading byte of a stored sketch holding all 16384 registers, one byte each. */
const DENSE = 0x44; // 'D'
/** Non-zero registers past which a sketch is held as a register array (16 KB) instead of a sorted list. */
const DENSE_IN_MEMORY_AT = 1024;
/** Non-zero registers a sketch holds in fields of its own, before it needs an array. */
const INLINE_POSITIONS = 4;
/** Room for positions of the typed array a sketch moves to when it outgrows its fields. */
const SPARSE_ROOM_AT_SPILL = 8;

/**
 * One Kafka partition's share of an approxDistinct cell (one view, window,
 * group key and measure): the registers of the Redis HyperLogLog of the
 * partition's elements. A pipeline keeps the sketches of its windows that still
 * take events and writes a changed one whole, under a hash field of its own
 * (`SpeedKeys.sketchField`); readers merge the partitions' sketches
 * register by register, which is the union PFADD into one key would have kept.
 * Whole writes make a flush idempotent without a merge in Redis, and spare
 * Redis hashing and inserting every element (PFADD into sparse sketches was
 * about 60 % of Redis's time for the demo views).
 *
 * Stored form: `P` then each non-zero register as 3 bytes (register × 64 +
 * value, big-endian), or `D` then the 16384 register values.
 *
 * @example
 * const sketch = new PartitionSketch();
 * sketch.add(redisHllPosition('u1')); // true: a register grew
 * PartitionSketch.mergeInto(registers, sketch.toBytes());
 */
export class PartitionSketch {
  /**
   * While tiny (at most {@link INLINE_POSITIONS} non-zero registers, most cells of a busy view): their
   * positions (register × 64 + value) in these fields, in arrival order, and `sparse` null. A sketch is
   * then one object: a typed array would be two more (its header and its bytes) for the garbage collector
   * to copy, for every open cell; a view's cells mostly see a few events each.
   */
  private p0 = 0;
  private p1 = 0;
  private p2 = 0;
  private p3 = 0;
  /**
   * Past that, while small: the positions in register order, in the first `size` slots. A typed array,
   * not a Map: the pipeline holds a sketch per open cell, and Map entries were a third of what it
   * allocated and the garbage collector copied.
   */
  private sparse: Int32Array | null = null;
  /** Set by its owner when a register grew since the sketch was last written (see sketch-log.ts). */
  unwritten = false;
  private size = 0;
  private dense: Uint8Array | null = null;

  /** Offers a {@link redisHllPosition} (register × 64 + value); true if a register grew. */
  add(position: number): boolean {
    const register = position >> 6;
    const value = position & 63;
    const dense = this.dense;
    if (dense !== null) {
      if (dense[register]! >= value) return false;
      dense[register] = value;
      return true;
    }
    if (this.sparse === null) {
      const at = this.inlineRegister(register);
      if (at >= 0 || this.size < INLINE_POSITIONS) return this.addInline(position, at);
      this.spill();
    }
    let sparse = this.sparse!;
    const size = this.size;
    // Binary search for the first position at or past the register's.
    let low = 0;
    let high = size;
    const from = register << 6;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sparse[middle]! < from) low = middle + 1;
      else high = middle;
    }
    if (low < size && sparse[low]! >> 6 === register) {
      if ((sparse[low]! & 63) >= value) return false;
      sparse[low] = position;
      return true;
    }
    if (size === sparse.length) {
      const grown = new Int32Array(size * 2);
      grown.set(sparse);
      this.sparse = sparse = grown;
    }
    sparse.copyWithin(low + 1, low, size);
    sparse[low] = position;
    this.size = size + 1;
    if (this.size > DENSE_IN_MEMORY_AT) this.toDense();
    return true;
  }

  /** Which inline field (0–3) holds `register`, or −1. */
  private inlineRegister(register: number): number {
    const size = this.size;
    if (size > 0 && this.p0 >> 6 === register) return 0;
    if (size > 1 && this.p1 >> 6 === register) return 1;
    if (size > 2 && this.p2 >> 6 === register) return 2;
    if (size > 3 && this.p3 >> 6 === register) return 3;
    return -1;
  }

  /** {@link add} while the positions are inline: the register is in field `at`, or (−1) there is room for it. */
  private addInline(position: number, at: number): boolean {
    const value = position & 63;
    if (at < 0) {
      this.setInline(this.size++, position);
      return true;
    }
    if ((this.inlineAt(at) & 63) >= value) return false;
    this.setInline(at, position);
    return true;
  }

  private inlineAt(index: number): number {
    return index === 0 ? this.p0 : index === 1 ? this.p1 : index === 2 ? this.p2 : this.p3;
  }

  private setInline(index: number, position: number): void {
    if (index === 0) this.p0 = position;
    else if (index === 1) this.p1 = position;
    else if (index === 2) this.p2 = position;
    else this.p3 = position;
  }

  /** The inline positions in register order (a new array: for writing and spilling, not the hot path). */
  private inlineSorted(): Int32Array {
    const positions = new Int32Array(this.size);
    for (let index = 0; index < this.size; index++) positions[index] = this.inlineAt(index);
    return positions.sort();
  }

  /** Moves the inline positions into a sorted typed array with room for more. */
  private spill(): void {
    const sparse = new Int32Array(SPARSE_ROOM_AT_SPILL);
    sparse.set(this.inlineSorted());
    this.sparse = sparse;
  }

  private toDense(): void {
    const dense = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    const sparse = this.sparse!;
    for (let index = 0; index < this.size; index++) dense[sparse[index]! >> 6] = sparse[index]! & 63;
    this.dense = dense;
    this.sparse = null;
  }

  /** The stored form (positions in register order, so equal sketches store equal bytes). */
  toBytes(): Buffer {
    if (this.dense !== null) {
      const bytes = Buffer.allocUnsafe(1 + REDIS_HLL_REGISTER_COUNT);
      bytes[0] = DENSE;
      bytes.set(this.dense, 1);
      return bytes;
    }
    const sparse = this.sparse ?? this.inlineSorted();
    const bytes = Buffer.allocUnsafe(1 + 3 * this.size);
    bytes[0] = POSITIONS;
    for (let index = 0, at = 1; index < this.size; index++, at += 3) {
      const position = sparse[index]!;
      bytes[at] = position >>> 16;
      bytes[at + 1] = (position >>> 8) & 0xff;
      bytes[at + 2] = position & 0xff;
    }
    return bytes;
  }

  /** A sketch from its stored form (a pipeline restoring its partition). */
  static fromBytes(bytes: Uint8Array): PartitionSketch {
    const sketch = new PartitionSketch();
    if (bytes[0] === DENSE) {
      checkDense(bytes);
      sketch.dense = Uint8Array.from(bytes.subarray(1));
      sketch.sparse = null;
      return sketch;
    }
    checkPositions(bytes);
    for (let at = 1; at < bytes.length; at += 3) sketch.add(positionAt(bytes, at));
    return sketch;
  }

  /**
   * The union of stored sketches (a cell's partitions) as a Redis HyperLogLog: sparse while all of them are
   * (the usual cell), so reading one costs the registers it holds, not 16 KB.
   */
  static union(parts: readonly Uint8Array[]): RedisHll {
    if (parts.some((bytes) => bytes[0] === DENSE)) {
      const registers = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
      for (const bytes of parts) PartitionSketch.mergeInto(registers, bytes);
      return RedisHll.fromRegisters(registers);
    }
    let count = 0;
    for (const bytes of parts) {
      checkPositions(bytes);
      count += (bytes.length - 1) / 3;
    }
    const positions = new Int32Array(count);
    let index = 0;
    for (const bytes of parts) for (let at = 1; at < bytes.length; at += 3) positions[index++] = positionAt(bytes, at);
    return RedisHll.fromPositions(positions);
  }

  /** Raises each of `registers` (16384 values) to the stored sketch's value for it: the union of the two. */
  static mergeInto(registers: Uint8Array, bytes: Uint8Array): void {
    if (bytes[0] === DENSE) {
      checkDense(bytes);
      for (let register = 0; register < REDIS_HLL_REGISTER_COUNT; register++) {
        const value = bytes[register + 1]!;
        if (value > registers[register]!) registers[register] = value;
      }
      return;
    }
    checkPositions(bytes);
    for (let at = 1; at < bytes.length; at += 3) {
      const position = positionAt(bytes, at);
      const register = position >> 6;
      const value = position & 63;
      if (value > registers[register]!) registers[register] = value;
    }
  }
}

/** The position (register × 64 + value) stored as 3 big-endian bytes at `at`. */
function positionAt(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
}

function corrupt(message: string, bytes: Uint8Array): BraidError {
  return new BraidError(ErrorCode.INTERNAL, `not a stored partition sketch: ${message}`, { fields: { lengthBytes: bytes.length } });
}

function checkDense(bytes: Uint8Array): void {
  if (bytes.length !== 1 + REDIS_HLL_REGISTER_COUNT) throw corrupt(`a dense sketch has ${1 + REDIS_HLL_REGISTER_COUNT} bytes`, bytes);
}

function checkPositions(bytes: Uint8Array): void {
  if (bytes[0] !== POSITIONS) throw corrupt(`unknown leading byte ${bytes[0]}`, bytes);
  if ((bytes.length - 1) % 3 !== 0) throw corrupt('positions are 3 bytes each', bytes);
  for (let at = 1; at < bytes.length; at += 3) {
    const position = positionAt(bytes, at);
    if (position >> 6 >= REDIS_HLL_REGISTER_COUNT || (position & 63) === 0) throw corrupt(`${position} is not a register position`, bytes);
  }
}
