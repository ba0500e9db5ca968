/**
 * Builds the argument list of one `flush-partitions` script call: the keys it
 * touches, and its ops encoded as they come as one MessagePack array of runs
 * (see speed/lua/flush-partitions.lua).
 */
import { MsgpackWriter } from './msgpack-writer.ts';
import type { PackedFlush } from './scripts.ts';

/**
 * Items per entry of a run of each opcode, after the run's header (opcode,
 * key index, entry count). Shared with the script's table of the same name.
 */
export const RUN_WIDTH = { I: 2, F: 2, '<': 2, '>': 2, Z: 2, S: 2, D: 1, A: 2, R: 1, T: 2, E: 1, X: 2 } as const;
export type Opcode = keyof typeof RUN_WIDTH;

/**
 * A flush program: consecutive ops of one opcode on one key form a run whose
 * opcode and key are written once, and numbers travel as MessagePack numbers,
 * so Redis unpacks about half the values it did with one string per op part,
 * and applies a run of hash writes as one variadic command. Operators emit
 * their ops field by field and key by key to make runs long.
 *
 * One program holds a flush round of several partitions: PEXPIREs are written
 * last, at {@link pack} (once per key, the longest asked for), after the writes
 * that create their keys.
 */
export class FlushProgram {
  readonly keys: string[];
  private readonly keyIndex = new Map<string, number>();
  /** Views this flush touched (for update notifications). */
  readonly touchedViews = new Set<string>();
  private readonly writer = new MsgpackWriter();
  private readonly lengthAt: number;
  /** MessagePack items written (the array's length). */
  private items = 0;
  private ops = 0;
  private runOpcode: Opcode | null = null;
  private runKey = -1;
  private runCountAt = -1;
  private runCount = 0;
  /** PEXPIRE ms per key index, written at pack() after everything else. */
  private expiries = new Map<number, number>();
  /** Ops gathered for pack() and not written yet (counted in size). */
  private deferredOps = 0;

  constructor(partitionStateKey: string) {
    this.keys = [partitionStateKey];
    this.lengthAt = this.writer.placeholder();
  }

  /** Index of `name` among the script's KEYS (1-based; KEYS[1] is the partition state). */
  private key(name: string): number {
    let index = this.keyIndex.get(name);
    if (index === undefined) {
      this.keys.push(name);
      index = this.keys.length;
      this.keyIndex.set(name, index);
    }
    return index;
  }

  /** Starts an entry of `opcode` on key `keyIndex`: continues the current run, or ends it and opens another. */
  private entry(opcode: Opcode, keyIndex: number): void {
    if (opcode !== this.runOpcode || keyIndex !== this.runKey) {
      this.endRun();
      this.writer.string(opcode);
      this.writer.number(keyIndex);
      this.runCountAt = this.writer.countPlaceholder();
      this.items += 3;
      this.runOpcode = opcode;
      this.runKey = keyIndex;
    }
    this.runCount++;
    this.items += RUN_WIDTH[opcode];
    this.ops++;
  }

  private endRun(): void {
    if (this.runOpcode === null) return;
    this.writer.patch(this.runCountAt, this.runCount);
    this.runOpcode = null;
    this.runKey = -1;
    this.runCount = 0;
  }

  /** The keys and the ops packed for the flush script (a view of the program's buffer). */
  pack(): PackedFlush {
    for (const [index, ms] of this.expiries) {
      this.entry('T', 0);
      this.writer.number(index);
      this.writer.number(ms);
      this.deferredOps--;
    }
    this.expiries = new Map();
    this.endRun();
    this.writer.patch(this.lengthAt, this.items);
    return { keys: this.keys, ops: this.writer.bytes() };
  }

  /** Ops written, and PEXPIREs to be written. */
  get size(): number {
    return this.ops + this.deferredOps;
  }

  incrBy(key: string, field: string, by: number): void {
    this.entry('I', this.key(key));
    this.writer.string(field);
    this.writer.number(by);
  }
  incrByFloat(key: string, field: string, by: number): void {
    this.entry('F', this.key(key));
    this.writer.string(field);
    this.writer.number(by);
  }
  keepMin(key: string, field: string, value: number): void {
    this.entry('<', this.key(key));
    this.writer.string(field);
    this.writer.number(value);
  }
  keepMax(key: string, field: string, value: number): void {
    this.entry('>', this.key(key));
    this.writer.string(field);
    this.writer.number(value);
  }
  zIncrBy(key: string, member: string, by: number): void {
    this.entry('Z', this.key(key));
    this.writer.string(member);
    this.writer.number(by);
  }
  hSet(key: string, field: string, value: string): void {
    this.entry('S', this.key(key));
    this.writer.string(field);
    this.writer.string(value);
  }
  /** HSET of a binary value (a partition's sketch). */
  hSetBytes(key: string, field: string, value: Uint8Array): void {
    this.entry('S', this.key(key));
    this.writer.string(field);
    this.writer.binary(value);
  }
  hDel(key: string, field: string): void {
    this.entry('D', this.key(key));
    this.writer.string(field);
  }
  zAdd(key: string, score: number, member: string): void {
    this.entry('A', this.key(key));
    this.writer.number(score);
    this.writer.string(member);
  }
  zRem(key: string, member: string): void {
    this.entry('R', this.key(key));
    this.writer.string(member);
  }
  /**
   * PEXPIRE, written at pack() after every other op (once per key: the longest asked for). PEXPIRE runs span
   * keys: each entry names its key (the run's own key index is 0).
   */
  pExpire(key: string, ms: number): void {
    const index = this.key(key);
    const known = this.expiries.get(index);
    if (known === undefined) this.deferredOps++;
    this.expiries.set(index, Math.max(known ?? 0, Math.max(1, Math.round(ms))));
  }
  set(key: string, value: string): void {
    this.entry('E', this.key(key));
    this.writer.string(value);
  }
  /** Drops sessions that started before `cutoffMs` from a session index and its hash. */
  expireSessionsBefore(indexKey: string, hashKey: string, cutoffMs: number): void {
    const index = this.key(indexKey);
    const hash = this.key(hashKey);
    this.entry('X', index);
    this.writer.number(hash);
    // As text: Lua would print a number with 14 significant digits when building the range bound.
    this.writer.string(String(cutoffMs));
  }
}
