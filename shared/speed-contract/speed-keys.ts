/**
 * Every Redis key the speed layer reads or writes is built here, and nothing
 * else writes them. All start with the configured prefix (default `braid:`).
 *
 * - `<p>speed:<group>:partitions` hash — per topic-partition `o:<t>:<p>` next
 *   offset, `t:<t>:<p>` max event time, `s:<t>:<p>` wall clock of the last
 *   flush with events (idleness). Written only by the flush script.
 * - `<p>view:<view>:group` string — the consumer group computing the view.
 * - `<p>view:<view>:windows` zset — window starts that have data (score = start).
 * - `<p>view:<view>:w:<start>` hash — `<group-key>\x1f#` row count and
 *   `<group-key>\x1f<measure>[.s|.c]` numeric measure state.
 * - `<p>view:<view>:w:<start>:h:<measure>` hash — `<topic>:<partition>\x1f<group-key>`
 *   one partition's whole state of a cell, for measures stored by partition
 *   (approxDistinct's sketch, stddev, quantiles); readers merge a cell's partitions.
 * - `<p>view:<view>:w:<start>:t:<measure>:<group-key>` zset — topK counts.
 * - `<p>view:<view>:sessions` hash — session id → JSON state; `:sessidx` zset
 *   by session start; `:open:<topic>:<partition>` hash — ids of sessions still
 *   open in a partition (restored on assignment).
 * - `<p>view:<view>:updates` pub/sub channel — a message after each flush that
 *   touched the view.
 * - `<p>view:<view>:batch` hash — `version` and `cutoffMs` of the view's latest
 *   published batch version: the braid's cutoff. Written by the batch layer
 *   after each publish (the expiry handshake); read by speed and serving.
 */
import { FIELD_SEPARATOR } from '../measures/index.ts';

export { cellField, FIELD_SEPARATOR, ROW_COUNT } from '../measures/index.ts';

export class SpeedKeys {
  constructor(readonly prefix: string) {}

  partitions(group: string): string {
    return `${this.prefix}speed:${group}:partitions`;
  }
  static offsetField(topic: string, partition: number): string {
    return `o:${topic}:${partition}`;
  }
  static maxEventTimeField(topic: string, partition: number): string {
    return `t:${topic}:${partition}`;
  }
  static seenField(topic: string, partition: number): string {
    return `s:${topic}:${partition}`;
  }
  /** List of a source topic's most recent dead letters (JSON, newest first), for the console. */
  recentDeadLetters(topic: string): string {
    return `${this.prefix}dlq:${topic}:recent`;
  }
  viewGroup(view: string): string {
    return `${this.prefix}view:${view}:group`;
  }
  windows(view: string): string {
    return `${this.prefix}view:${view}:windows`;
  }
  window(view: string, startMs: number): string {
    return `${this.prefix}view:${view}:w:${startMs}`;
  }
  /** Hash of the window's approxDistinct sketches for `measure`: one field per partition and group key. */
  sketches(view: string, startMs: number, measure: string): string {
    return `${this.prefix}view:${view}:w:${startMs}:h:${measure}`;
  }
  /** `<topic>:<partition>\x1f<group-key>`: the sketch of one partition's elements of a cell. */
  static sketchField(topic: string, partition: number, groupKey: string): string {
    return `${topic}:${partition}${FIELD_SEPARATOR}${groupKey}`;
  }
  topK(view: string, startMs: number, measure: string, groupKey: string): string {
    return `${this.prefix}view:${view}:w:${startMs}:t:${measure}:${groupKey}`;
  }
  sessions(view: string): string {
    return `${this.prefix}view:${view}:sessions`;
  }
  sessionIndex(view: string): string {
    return `${this.prefix}view:${view}:sessidx`;
  }
  openSessions(view: string, topic: string, partition: number): string {
    return `${this.prefix}view:${view}:open:${topic}:${partition}`;
  }
  updates(view: string): string {
    return `${this.prefix}view:${view}:updates`;
  }
  batchPublished(view: string): string {
    return `${this.prefix}view:${view}:batch`;
  }
}


/** How many of a topic's newest dead letters {@link SpeedKeys.recentDeadLetters} keeps. */
export const RECENT_DEAD_LETTERS = 50;

/** An entry of {@link SpeedKeys.recentDeadLetters}. */
export interface RecentDeadLetter {
  readonly reason: string;
  readonly partition: number;
  /** The message's offset in the source topic. */
  readonly offset: string;
  /** When the speed layer dead-lettered it. */
  readonly atMs: number;
  /** The first 500 bytes of its value, as text. */
  readonly value: string | null;
}
