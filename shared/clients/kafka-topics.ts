import type { Admin } from 'kafkajs';

/**
 * Creates the topics that do not exist yet (existing topics are left as they
 * are) and waits until every partition of each has a leader.
 */
export async function ensureTopics(
  admin: Admin,
  topics: ReadonlyArray<{ topic: string; partitions: number }>,
  timeoutMs = 30_000,
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter(({ topic }) => !existing.has(topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        // kafkajs's own wait can fail on a transient "does not host this topic-partition"
        // while the broker digests other topic changes; we poll for leaders below instead.
        waitForLeaders: false,
        topics: missing.map(({ topic, partitions }) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
      });
    } catch (error) {
      // Another process may have created it between list and create; that is fine.
      if (!/already exists/i.test((error as Error).message)) throw error;
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: topics.map(({ topic }) => topic) });
      if (metadata.topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0))) break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics.map((t) => t.topic).join(', ')} have no leaders after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return missing.map(({ topic }) => topic);
}
