/** The longest string MessagePack's one-byte-header form (fixstr) holds, in bytes. */
const FIXSTR_MAX = 31;
/** The longest string its two-byte-header form (str 8) holds, in bytes. */
const STR8_MAX = 255;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Writes MessagePack into one growing buffer, for what Redis's Lua
 * `cmsgpack.unpack` reads: strings, numbers, and arrays whose length is
 * patched in once known ({@link placeholder} / {@link patch}), so a flush
 * program is encoded as it is built, with no list of values in between.
 *
 * Strings are UTF-8 exactly as Buffer (and so ioredis) writes them — lone
 * surrogates become U+FFFD — so PFADD sees the very bytes it would have seen
 * as a plain command argument, and the batch layer's HyperLogLog still
 * matches. (msgpackr writes short strings' lone surrogates as raw surrogate
 * bytes, hence this small writer.) Integers that fit in 32 bits are written as
 * integers, every other number as a float64: Lua numbers are doubles anyway.
 *
 * @example
 * const writer = new MsgpackWriter();
 * const length = writer.placeholder();
 * writer.string('a');
 * writer.number(1.5);
 * writer.patch(length, 2);
 * await redis.eval('return cmsgpack.unpack(ARGV[1])[1]', 0, writer.bytes()); // 'a'
 */
export class MsgpackWriter {
  private buffer: Buffer;
  private at = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written so far (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.at);
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(bigger, 0, 0, this.at);
    this.buffer = bigger;
  }

  /** A type byte and four bytes that {@link patch} fills in later; returns its position. */
  private reserve(typeByte: number): number {
    this.room(5);
    const position = this.at;
    this.buffer[position] = typeByte;
    this.at += 5;
    return position;
  }

  /** An array header (array 32) whose length {@link patch} sets later; returns its position. */
  placeholder(): number {
    return this.reserve(0xdd);
  }

  /** A count (uint 32) that {@link patch} sets later; returns its position. */
  countPlaceholder(): number {
    return this.reserve(0xce);
  }

  /** Sets the array length or count reserved at `position`. */
  patch(position: number, value: number): void {
    this.buffer.writeUInt32BE(value, position + 1);
  }

  string(text: string): void {
    const length = text.length;
    this.room(5 + length * 3);
    const buffer = this.buffer;
    const at = this.at;
    if (length <= STR8_MAX) {
      // ASCII up to 255 characters (opcodes, fields, members, session values): copied by hand behind a
      // one-byte (fixstr) or two-byte (str 8) header; cheaper than a call into Buffer.write for short text.
      const header = length <= FIXSTR_MAX ? 1 : 2;
      let index = 0;
      for (; index < length; index++) {
        const code = text.charCodeAt(index);
        if (code >= 0x80) break;
        buffer[at + header + index] = code;
      }
      if (index === length) {
        if (header === 1) buffer[at] = 0xa0 | length;
        else {
          buffer[at] = 0xd9;
          buffer[at + 1] = length;
        }
        this.at = at + header + length;
        return;
      }
    }
    const written = buffer.write(text, at + 5, 'utf8');
    buffer[at] = 0xdb; // str 32
    buffer.writeUInt32BE(written, at + 1);
    this.at = at + 5 + written;
  }

  /**
   * Bytes as a MessagePack str of any bytes: Redis's cmsgpack has no bin types, and unpacks a str as the
   * Lua string of its bytes, unchecked.
   */
  binary(bytes: Uint8Array): void {
    const length = bytes.length;
    this.room(5 + length);
    const buffer = this.buffer;
    buffer[this.at] = 0xdb; // str 32
    buffer.writeUInt32BE(length, this.at + 1);
    buffer.set(bytes, this.at + 5);
    this.at += 5 + length;
  }

  number(value: number): void {
    this.room(9);
    const buffer = this.buffer;
    const at = this.at;
    if (Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX && !Object.is(value, -0)) {
      if (value >= 0 && value < 0x80) {
        buffer[at] = value; // positive fixint
        this.at = at + 1;
        return;
      }
      buffer[at] = 0xd2; // int 32
      buffer.writeInt32BE(value, at + 1);
      this.at = at + 5;
      return;
    }
    buffer[at] = 0xcb; // float 64
    buffer.writeDoubleBE(value, at + 1);
    this.at = at + 9;
  }
}
