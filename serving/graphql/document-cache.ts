import { LRUCache } from 'lru-cache';

/** Characters of document text each of yoga's caches (parsed documents, parse errors) holds at most. */
export const DOCUMENT_CACHE_CHARS = 8 * 1_048_576;

/**
 * A cache of yoga's parser, keyed by a document's text and bounded by the text it holds as well as by count.
 * yoga's own holds 1,024 documents whatever their size: documents near `serving.limits.maxBodyBytes` (a long
 * comment or string is a handful of tokens) pin about a megabyte each, 200 distinct ones about 200 MiB of heap
 * (test/integration/serving-fuzz.test.ts). Dashboards repeat a few documents of a few kilobytes, which fit many
 * times over.
 */
export function documentCache<Value extends {}>(): LRUCache<string, Value> {
  return new LRUCache<string, Value>({ max: 1_024, ttl: 3_600_000, maxSize: DOCUMENT_CACHE_CHARS, sizeCalculation: (_value, key) => Math.max(1, key.length) });
}
