/**
 * Builds the argument list of one `flush-partition` script call: the keys it
 * touches and a flat list of ops (see speed/lua/flush-partition.lua).
 */
import { packStrings, type PackedFlush } from './scripts.ts';

const PFADD_CHUNK = 1_000; // Lua's unpack() is limited by its C stack; keep each PFADD modest.

export class FlushProgram {
  readonly keys: string[];
  readonly ops: string[] = [];
  private readonly keyIndex = new Map<string, number>();
  /** Views this flush touched (for update notifications). */
  readonly touchedViews = new Set<string>();

  constructor(partitionStateKey: string) {
    this.keys = [partitionStateKey];
  }

  private key(name: string): string {
    let index = this.keyIndex.get(name);
    if (index === undefined) {
      this.keys.push(name);
      index = this.keys.length;
      this.keyIndex.set(name, index);
    }
    return String(index);
  }

  /** The keys and the ops packed for the flush script. */
  pack(): PackedFlush {
    return { keys: this.keys, ops: packStrings(this.ops) };
  }

  get size(): number {
    return this.ops.length;
  }

  incrBy(key: string, field: string, by: number): void {
    this.ops.push('I', this.key(key), field, String(by));
  }
  incrByFloat(key: string, field: string, by: number): void {
    this.ops.push('F', this.key(key), field, String(by));
  }
  keepMin(key: string, field: string, value: number): void {
    this.ops.push('<', this.key(key), field, String(value));
  }
  keepMax(key: string, field: string, value: number): void {
    this.ops.push('>', this.key(key), field, String(value));
  }
  pfAdd(key: string, elements: Iterable<string>): void {
    const index = this.key(key);
    const ops = this.ops;
    let countAt = -1;
    let count = 0;
    for (const element of elements) {
      if (count === 0) {
        ops.push('P', index, '');
        countAt = ops.length - 1;
      }
      ops.push(element);
      if (++count === PFADD_CHUNK) {
        ops[countAt] = String(count);
        count = 0;
      }
    }
    if (count > 0) ops[countAt] = String(count);
  }

  zIncrBy(key: string, member: string, by: number): void {
    this.ops.push('Z', this.key(key), member, String(by));
  }
  hSet(key: string, field: string, value: string): void {
    this.ops.push('S', this.key(key), field, value);
  }
  hDel(key: string, field: string): void {
    this.ops.push('D', this.key(key), field);
  }
  zAdd(key: string, score: number, member: string): void {
    this.ops.push('A', this.key(key), String(score), member);
  }
  zRem(key: string, member: string): void {
    this.ops.push('R', this.key(key), member);
  }
  pExpire(key: string, ms: number): void {
    this.ops.push('T', this.key(key), String(Math.max(1, Math.round(ms))));
  }
  set(key: string, value: string): void {
    this.ops.push('E', this.key(key), value);
  }
  /** Drops sessions that started before `cutoffMs` from a session index and its hash. */
  expireSessionsBefore(indexKey: string, hashKey: string, cutoffMs: number): void {
    this.ops.push('X', this.key(indexKey), this.key(hashKey), String(cutoffMs));
  }
}
