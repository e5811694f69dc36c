import type { Endpoint } from '../http.js';

/**
 * The WeChat Pay APIv3 side of the sandbox (JSAPI orders, order query, the notifier).
 * Filled in by the payment-callback work; until then it serves nothing.
 */
export function createPayApi(_deps: { now: () => number }): {
  endpoints: Endpoint[];
  close(): Promise<void>;
} {
  return { endpoints: [], close: async () => {} };
}
