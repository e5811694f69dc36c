export interface RetryOptions {
  /** Retries after the first attempt (so at most `retries + 1` calls). */
  retries: number;
  /** Backoff cap for the first retry, in ms; doubles per retry. */
  baseMs: number;
  /** Upper bound of any single backoff, in ms. */
  maxMs: number;
  /**
   * Whether repeating the call is safe. When false the call is made exactly once, whatever the error:
   * retrying a non-idempotent call (a payment, a message send) can do it twice.
   */
  idempotent: boolean;
  /** Whether this error is worth another attempt (Unavailable: yes; InvalidArgument, an open breaker: no). */
  isRetryable: (err: unknown) => boolean;
  /** Stops retrying: no new attempt starts and a pending backoff ends with `signal.reason`. */
  signal?: AbortSignal;
  /** Source of uniform [0, 1) numbers for the jitter. Default `Math.random`. */
  random?: () => number;
  /** Waits `ms`; must reject promptly when `signal` aborts. Default: a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Observes each scheduled retry (for logs and metrics); `attempt` is the attempt that just failed (1-based). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/**
 * Calls `fn` and, if it fails with a retryable error, calls it again after a full-jitter exponential
 * backoff (AWS style: before retry `k` (0-based) wait `random() * min(maxMs, baseMs * 2^k)`), which
 * spreads a herd of clients out instead of having them retry in lockstep.
 *
 * Only for idempotent calls: with `idempotent: false` it makes a single attempt, by design, so the
 * option documents the decision at every call site. Gives up after `retries` retries and rethrows the
 * last error. `fn` receives the 1-based attempt number and the signal.
 *
 * Hand-written rather than p-retry because the jitter formula, the injectable random/sleep for tests
 * and the idempotency gate are the whole feature, and p-retry's randomisation is neither full jitter
 * nor injectable.
 */
export async function retry<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { retries, baseMs, maxMs, signal } = options;
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError('retries must be an integer >= 0');
  if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError('need 0 < baseMs <= maxMs');
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  const maxAttempts = options.idempotent ? retries + 1 : 1;

  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt, signal);
    } catch (err) {
      if (attempt >= maxAttempts || signal?.aborted || !options.isRetryable(err)) throw err;
      const delayMs = backoffDelay(attempt - 1, baseMs, maxMs, random);
      options.onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs, signal);
    }
  }
}

/** Full-jitter delay before retry `k` (0-based): uniform in [0, min(maxMs, baseMs * 2^k)). */
export function backoffDelay(
  k: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** k);
  return Math.floor(random() * cap);
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
