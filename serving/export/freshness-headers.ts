import { granularityText } from '../../shared/time/index.ts';
import type { Freshness } from '../view-reader.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * An answer's freshness as name/value text: the HTTP response headers of
 * `GET /v1/views/:view` in every format, and the key/value metadata of
 * exported Arrow and Parquet files. Times are ISO-8601; a header whose value
 * is none (no batch version yet, no speed watermark, no layer, no gap) is left out.
 *
 * @example
 * freshnessHeaders(answer.meta);
 * // { 'Braid-Batch-Version': '3', 'Braid-Batch-Cutoff': '2026-05-01T01:00:00.000Z',
 * //   'Braid-Speed-Watermark': '2026-05-01T01:59:58.000Z', 'Braid-Layers': 'batch,speed',
 * //   'Braid-Partial': 'false', 'Braid-From': …, 'Braid-To': …, 'Braid-Granularity': '1m', 'Braid-Granularity-Ms': '60000', 'Braid-Time-Zone': 'UTC',
 * //   'Braid-Truncated': 'false', 'Braid-Cached': 'false' }
 */
export function freshnessHeaders(meta: Freshness): Record<string, string> {
  const headers: Record<string, string> = {};
  if (meta.batchVersion !== null) headers['Braid-Batch-Version'] = String(meta.batchVersion);
  if (meta.batchCutoffMs !== null) headers['Braid-Batch-Cutoff'] = iso(meta.batchCutoffMs);
  if (meta.speedWatermarkMs !== null) headers['Braid-Speed-Watermark'] = iso(meta.speedWatermarkMs);
  if (meta.layers.length > 0) headers['Braid-Layers'] = meta.layers.join(',');
  headers['Braid-Partial'] = String(meta.partial);
  // ISO-8601 intervals, `start/end`.
  if (meta.missing.length > 0) headers['Braid-Missing'] = meta.missing.map((range) => `${iso(range.fromMs)}/${iso(range.toMs)}`).join(',');
  headers['Braid-From'] = iso(meta.fromMs);
  headers['Braid-To'] = iso(meta.toMs);
  headers['Braid-Granularity'] = granularityText(meta.granularity);
  // Calendar buckets vary in length: only a fixed width has milliseconds.
  if (meta.granularity.kind === 'fixed') headers['Braid-Granularity-Ms'] = String(meta.granularity.stepMs);
  headers['Braid-Time-Zone'] = meta.timeZone;
  headers['Braid-Truncated'] = String(meta.truncated);
  headers['Braid-Cached'] = String(meta.cached);
  return headers;
}
