import { RUN_WIDTH, type FlushProgram, type Opcode } from '../../speed/flush-program.ts';

/** One op of a flush program, its key index resolved; numbers as the text JS would print. */
export interface FlushOp {
  code: string;
  key: string;
  args: string[];
}

/** A run as packed: opcode, key index, and its entries' items. */
export interface FlushRun {
  code: string;
  keyIndex: number;
  /** Strings decoded as UTF-8, numbers as numbers. */
  items: unknown[];
  /** The same items, strings as their bytes. */
  rawItems: unknown[];
}

/**
 * The items of a packed program, strings as Buffers: a reader of just what speed/msgpack-writer.ts writes
 * (a general one such as msgpackr decodes every string as UTF-8, which garbles binary sketches).
 */
function unpackItems(bytes: Buffer): unknown[] {
  let at = 0;
  const item = (): unknown => {
    const type = bytes[at]!;
    if (type < 0x80) return (at += 1), type;
    if (type >= 0xa0 && type <= 0xbf) return text(1, type & 0x1f);
    switch (type) {
      case 0xd9:
        return text(2, bytes[at + 1]!);
      case 0xdb:
        return text(5, bytes.readUInt32BE(at + 1));
      case 0xce:
        return (at += 5), bytes.readUInt32BE(at - 4);
      case 0xd2:
        return (at += 5), bytes.readInt32BE(at - 4);
      case 0xcb:
        return (at += 9), bytes.readDoubleBE(at - 8);
      default:
        throw new Error(`unexpected MessagePack type 0x${type.toString(16)} at byte ${at}`);
    }
  };
  const text = (header: number, length: number): Buffer => {
    const start = at + header;
    at = start + length;
    return bytes.subarray(start, at);
  };
  if (bytes[0] !== 0xdd) throw new Error('a flush program is one array 32');
  const length = bytes.readUInt32BE(1);
  at = 5;
  const items: unknown[] = [];
  for (let index = 0; index < length; index++) items.push(item());
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes after the program's array`);
  return items;
}

/** Reads a packed program's runs back (the format of speed/lua/flush-partitions.lua). */
export function runsOf(program: FlushProgram): FlushRun[] {
  const rawItems = unpackItems(program.pack().ops);
  const items = rawItems.map((item) => (Buffer.isBuffer(item) ? item.toString('utf8') : item));
  const runs: FlushRun[] = [];
  let i = 0;
  while (i < items.length) {
    const code = items[i] as Opcode;
    const width = RUN_WIDTH[code];
    if (width === undefined) throw new Error(`unknown opcode ${String(code)} at ${i}`);
    const count = items[i + 2] as number;
    runs.push({ code, keyIndex: items[i + 1] as number, items: items.slice(i + 3, i + 3 + width * count), rawItems: rawItems.slice(i + 3, i + 3 + width * count) });
    i += 3 + width * count;
  }
  return runs;
}

/** A program's ops one by one, keys resolved; a PEXPIRE entry is one op on the key it names. */
export function opsOf(program: FlushProgram): FlushOp[] {
  const ops: FlushOp[] = [];
  const keyAt = (index: unknown) => program.keys[(index as number) - 1]!;
  for (const run of runsOf(program)) {
    const text = run.items.map(String);
    const width = RUN_WIDTH[run.code as Opcode];
    for (let j = 0; j < text.length; j += width) {
      if (run.code === 'T') ops.push({ code: 'T', key: keyAt(run.items[j]), args: [text[j + 1]!] });
      else ops.push({ code: run.code, key: keyAt(run.keyIndex), args: text.slice(j, j + width) });
    }
  }
  return ops;
}

/** A program's HSETs with their values' bytes (sketches are binary). */
export function hashWritesOf(program: FlushProgram): Array<{ key: string; field: string; value: Buffer }> {
  const writes: Array<{ key: string; field: string; value: Buffer }> = [];
  for (const run of runsOf(program)) {
    if (run.code !== 'S') continue;
    for (let j = 0; j < run.items.length; j += 2) {
      writes.push({ key: program.keys[run.keyIndex - 1]!, field: run.items[j] as string, value: run.rawItems[j + 1] as Buffer });
    }
  }
  return writes;
}
