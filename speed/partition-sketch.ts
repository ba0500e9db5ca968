import { BraidError, ErrorCode } from '../shared/errors/index.ts';
import { REDIS_HLL_REGISTER_COUNT } from '../shared/measures/index.ts';

/** Leading byte of a stored sketch holding its non-zero registers as 3-byte positions. */
const POSITIONS = 0x50; // 'P'
/** Leading byte of a stored sketch holding all 16384 registers, one byte each. */
const DENSE = 0x44; // 'D'
/** Non-zero registers past which a sketch is held as a register array (16 KB) instead of a Map. */
const DENSE_IN_MEMORY_AT = 1024;

/**
 * One Kafka partition's share of an approxDistinct cell (one view, window,
 * group key and measure): the registers of the Redis HyperLogLog of the
 * partition's elements. A pipeline keeps the sketches of its windows that still
 * take events and writes a changed one whole, under a hash field of its own
 * (see {@link SpeedKeys.sketchField}); readers merge the partitions' sketches
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
  /** Register → value while small. */
  private sparse: Map<number, number> | null = new Map();
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
    const sparse = this.sparse!;
    const known = sparse.get(register);
    if (known !== undefined && known >= value) return false;
    sparse.set(register, value);
    if (sparse.size > DENSE_IN_MEMORY_AT) this.toDense();
    return true;
  }

  private toDense(): void {
    const dense = new Uint8Array(REDIS_HLL_REGISTER_COUNT);
    for (const [register, value] of this.sparse!) dense[register] = value;
    this.dense = dense;
    this.sparse = null;
  }

  /** The stored form. */
  toBytes(): Buffer {
    if (this.dense !== null) {
      const bytes = Buffer.allocUnsafe(1 + REDIS_HLL_REGISTER_COUNT);
      bytes[0] = DENSE;
      bytes.set(this.dense, 1);
      return bytes;
    }
    const sparse = this.sparse!;
    const bytes = Buffer.allocUnsafe(1 + 3 * sparse.size);
    bytes[0] = POSITIONS;
    let at = 1;
    for (const [register, value] of sparse) {
      const position = register * 64 + value;
      bytes[at] = position >>> 16;
      bytes[at + 1] = (position >>> 8) & 0xff;
      bytes[at + 2] = position & 0xff;
      at += 3;
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
    for (let at = 1; at < bytes.length; at += 3) sketch.add((bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!);
    return sketch;
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
      const position = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
      const register = position >> 6;
      const value = position & 63;
      if (value > registers[register]!) registers[register] = value;
    }
  }
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
    const position = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
    if (position >> 6 >= REDIS_HLL_REGISTER_COUNT || (position & 63) === 0) throw corrupt(`${position} is not a register position`, bytes);
  }
}
