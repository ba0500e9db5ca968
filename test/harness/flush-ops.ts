import { unpack } from 'msgpackr';
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
  items: unknown[];
}

/** Reads a packed program's runs back (the format of speed/lua/flush-partition.lua). */
export function runsOf(program: FlushProgram): FlushRun[] {
  const items = unpack(program.pack().ops) as unknown[];
  const runs: FlushRun[] = [];
  let i = 0;
  while (i < items.length) {
    const code = items[i] as Opcode;
    const width = RUN_WIDTH[code];
    if (width === undefined) throw new Error(`unknown opcode ${String(code)} at ${i}`);
    const count = items[i + 2] as number;
    runs.push({ code, keyIndex: items[i + 1] as number, items: items.slice(i + 3, i + 3 + width * count) });
    i += 3 + width * count;
  }
  return runs;
}

/**
 * A program's ops one by one, keys resolved: a PFADD run is one op with every
 * element; a PEXPIRE entry is one op on the key it names.
 */
export function opsOf(program: FlushProgram): FlushOp[] {
  const ops: FlushOp[] = [];
  const keyAt = (index: unknown) => program.keys[(index as number) - 1]!;
  for (const run of runsOf(program)) {
    const text = run.items.map(String);
    if (run.code === 'P') {
      ops.push({ code: 'P', key: keyAt(run.keyIndex), args: text });
      continue;
    }
    const width = RUN_WIDTH[run.code as Opcode];
    for (let j = 0; j < text.length; j += width) {
      if (run.code === 'T') ops.push({ code: 'T', key: keyAt(run.items[j]), args: [text[j + 1]!] });
      else ops.push({ code: run.code, key: keyAt(run.keyIndex), args: text.slice(j, j + width) });
    }
  }
  return ops;
}
