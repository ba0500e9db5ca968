import { PipelineHost } from '../threads/pipeline-host.ts';
import type { BatchResult, CheckpointResult, PackedBatch, PipelineThreadInit, RestoreResult } from '../threads/pipeline-protocol.ts';

/**
 * A source consumer's pipeline threads, and the cells pending in them as of their last replies. Partition `p`
 * lives in thread `p mod threads`. Empty until started.
 */
export class ThreadSet {
  private hosts: PipelineHost[] = [];
  /** Pending cells in each pipeline thread, as of its last reply. */
  private pendingCellsReported: number[] = [];
  /** Batches handed to the threads so far, and how many of them the last checkpoint took. */
  private batchesSent = 0;
  private batchesFlushed = 0;

  /** Starts `count` threads; if one fails to start, stops the others and throws its error. */
  async start(count: number, init: PipelineThreadInit, onFatal: (error: Error) => void): Promise<readonly PipelineHost[]> {
    const started = await Promise.allSettled(Array.from({ length: count }, () => PipelineHost.start(init, onFatal)));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      // The threads that did start would keep the process alive: stop them before giving up.
      await Promise.allSettled(started.flatMap((result) => (result.status === 'fulfilled' ? [result.value.stop()] : [])));
      throw failed.reason;
    }
    this.hosts = started.map((result) => (result as PromiseFulfilledResult<PipelineHost>).value);
    this.pendingCellsReported = this.hosts.map(() => 0);
    return this.hosts;
  }

  /** How many threads run. */
  get size(): number {
    return this.hosts.length;
  }

  /** Batches handed to the threads since they started. */
  get batchesHandedOn(): number {
    return this.batchesSent;
  }

  /** Which thread holds `partition`. */
  private indexOf(partition: number): number {
    return partition % this.hosts.length;
  }

  /** Restores a partition's pipeline from Redis, in its thread. */
  restore(partition: number): Promise<RestoreResult> {
    return this.hosts[this.indexOf(partition)]!.restore(partition);
  }

  /** Hands a batch to its partition's thread (its buffers move there); `onReply` takes the thread's reply. */
  process<T>(batch: PackedBatch, onReply: (result: BatchResult) => T): Promise<T> {
    const sequence = ++this.batchesSent;
    const index = this.indexOf(batch.partition);
    return this.hosts[index]!.process(batch).then((result) => {
      // A batch the running checkpoint took reports cells that checkpoint holds now, not the thread.
      if (sequence > this.batchesFlushed) this.pendingCellsReported[index] = result.pendingCells;
      return onReply(result);
    });
  }

  /**
   * Takes the pending flush of each of `partitions` from its thread: one result per thread, null for a thread
   * that holds none of them.
   */
  async checkpoint(nowMs: number, partitions: Iterable<number>): Promise<Array<CheckpointResult | null>> {
    const byHost: number[][] = this.hosts.map(() => []);
    for (const partition of partitions) byHost[this.indexOf(partition)]!.push(partition);
    this.batchesFlushed = this.batchesSent;
    this.pendingCellsReported.fill(0);
    const results = await Promise.all(this.hosts.map((host, index) => (byHost[index]!.length === 0 ? null : host.checkpoint(nowMs, byHost[index]!))));
    results.forEach((result, index) => (this.pendingCellsReported[index] = result?.pendingCells ?? 0));
    return results;
  }

  /** Pending cells in the threads, as of their last replies. */
  pendingCells(): number {
    let cells = 0;
    for (const reported of this.pendingCellsReported) cells += reported;
    return cells;
  }

  /** Forgets partitions (after a rebalance), each in its thread. */
  async close(partitions: readonly number[]): Promise<void> {
    await Promise.all(
      this.hosts.map((host, index) => {
        const mine = partitions.filter((partition) => this.indexOf(partition) === index);
        return mine.length === 0 ? undefined : host.close(mine);
      }),
    );
  }

  /** Ends every thread. */
  async stop(): Promise<void> {
    await Promise.all(this.hosts.map((host) => host.stop()));
  }
}
