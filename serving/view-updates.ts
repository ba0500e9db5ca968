import { Repeater, SlidingBuffer } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import { SpeedKeys } from '../shared/speed-contract/index.ts';

/**
 * Fans the speed layer's flush notifications (Redis pub/sub, one channel per
 * view) out to any number of listeners over one subscriber connection, so
 * every serving replica hears every flush.
 */
export class ViewUpdates {
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(
    private readonly subscriber: Redis,
    private readonly keys: SpeedKeys,
  ) {
    subscriber.on('message', (channel: string) => {
      for (const listener of this.listeners.get(channel) ?? []) listener();
    });
  }

  /** Calls `listener` after each flush that touched the view, once subscribed (awaited); returns the way to stop. */
  async onFlush(view: string, listener: () => void): Promise<() => void> {
    const channel = this.keys.updates(view);
    let set = this.listeners.get(channel);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      await this.subscriber.subscribe(channel);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) {
        this.listeners.delete(channel);
        this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  /**
   * Ticks after each flush that touched the view. Ticks a listener has not
   * taken yet are coalesced into one, so a slow client is never behind by more
   * than one update. Ends when the consumer stops iterating.
   */
  listen(view: string): Repeater<void> {
    return new Repeater<void>(async (push, stop) => {
      const remove = await this.onFlush(view, () => void push());
      await stop;
      remove();
    }, new SlidingBuffer(1));
  }
}
