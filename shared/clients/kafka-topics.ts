import type { Admin } from 'kafkajs';

/**
 * Creates the topics that do not exist yet (existing topics are left as they
 * are) and waits until their leaders are elected.
 */
export async function ensureTopics(admin: Admin, topics: ReadonlyArray<{ topic: string; partitions: number }>): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter(({ topic }) => !existing.has(topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map(({ topic, partitions }) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
  } catch (error) {
    // Another process may have created it between list and create; that is fine.
    if (!/already exists/i.test((error as Error).message)) throw error;
  }
  return missing.map(({ topic }) => topic);
}
