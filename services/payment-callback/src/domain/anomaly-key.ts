import { createHash } from 'node:crypto';

/**
 * The key an anomaly is recorded and evented under: its subject (`tx:<transaction_id>` or
 * `refund:<refund_id>`) and a fingerprint of the content that disagreed. Every distinct
 * disagreeing content is its own anomaly (counted once each); the same content delivered again
 * (a redelivery, or the sweeper querying the same transaction) has the same key, so it is not.
 */
export function anomalyKey(subject: string, content: unknown): string {
  const fingerprint = createHash('sha256').update(canonicalJson(content)).digest('base64url').slice(0, 16);
  return `${subject}:${fingerprint}`;
}

/** JSON with object keys sorted at every level, so equal content has one text whatever its key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
