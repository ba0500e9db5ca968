import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedisClient, type RedisConnection } from '../shared/clients/index.ts';
import type { Config } from '../shared/config/index.ts';
import { jobIdOf, type ReadyTask, type WorkflowKeys } from './run-store.ts';

/** What a queue job carries: which readiness of which task of which run. */
export interface TaskJob {
  readonly runId: string;
  readonly task: string;
  readonly seq: number;
}

/** The BullMQ queue of a pool. */
export function queueName(pool: string): string {
  return `braid-wf-${pool}`;
}

/** A Redis connection as BullMQ needs it: commands wait through reconnects rather than failing. */
export function bullConnection(connection: RedisConnection, name: string): Redis {
  return createRedisClient(connection, { name, maxRetriesPerRequest: null });
}

/**
 * The queues of ready tasks, one BullMQ queue per pool: a pool's slots are its queue's global concurrency, so
 * they hold across every worker. A job's id names the readiness it carries (`<run>|<task>|<seq>`), so adding a
 * ready task twice (the worker that made it ready, and the scheduler's reconciliation) queues it once.
 */
export class TaskQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly connection: Redis;

  constructor(
    private readonly config: Config,
    private readonly keys: WorkflowKeys,
  ) {
    this.connection = bullConnection(config.redis, 'braid-workflow-queues');
  }

  queue(pool: string): Queue {
    let queue = this.queues.get(pool);
    if (!queue) {
      queue = new Queue(queueName(pool), { connection: this.connection, prefix: this.keys.bullPrefix() });
      this.queues.set(pool, queue);
    }
    return queue;
  }

  /** Queues ready tasks; a task ready later (a retry's backoff, a sensor's next look) is a delayed job. */
  async enqueue(ready: readonly ReadyTask[]): Promise<void> {
    if (ready.length === 0) return;
    const now = Date.now();
    const byPool = new Map<string, ReadyTask[]>();
    for (const task of ready) byPool.set(task.pool, [...(byPool.get(task.pool) ?? []), task]);
    // One round trip per pool, however wide the fan-out.
    await Promise.all(
      [...byPool].map(([pool, tasks]) =>
        this.queue(pool).addBulk(
          tasks.map((task) => ({
            name: task.task,
            data: { runId: task.runId, task: task.task, seq: task.seq } satisfies TaskJob,
            opts: { jobId: jobIdOf(task), delay: Math.max(0, task.readyAtMs - now), attempts: 1, removeOnComplete: true, removeOnFail: true },
          })),
        ),
      ),
    );
  }

  /** Whether the job of a readiness is still queued, delayed or being worked on. */
  async jobAlive(task: { runId: string; task: string; seq: number; pool: string }): Promise<boolean> {
    const state = await this.queue(task.pool).getJobState(jobIdOf(task));
    return state === 'waiting' || state === 'delayed' || state === 'active' || state === 'prioritized' || state === 'waiting-children';
  }

  /** Sets each configured pool's slots as its queue's global concurrency. */
  async applyPoolLimits(): Promise<void> {
    for (const [pool, slots] of Object.entries(this.config.workflows.pools)) await this.queue(pool).setGlobalConcurrency(slots);
  }

  /** Jobs waiting (or delayed) and active per pool. */
  async depths(): Promise<Record<string, { waiting: number; active: number; delayed: number }>> {
    const depths: Record<string, { waiting: number; active: number; delayed: number }> = {};
    for (const [pool, queue] of this.queues) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      depths[pool] = { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0 };
    }
    return depths;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.connection.disconnect();
  }
}
