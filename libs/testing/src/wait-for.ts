import { setTimeout as delay } from 'node:timers/promises';
import { scaledTimeout } from './timeout-scale.js';

/** The default limit of {@link waitFor} on an idle machine, before {@link scaledTimeout}. */
const DEFAULT_TIMEOUT_MS = 5000;

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /**
   * Give up after this long. Default: 5000 ms × the machine's load factor ({@link scaledTimeout}),
   * since an unstated limit is never what a test asserts. A given value is used as it is: pass
   * `scaledTimeout(ms)` for a wait on start-up, a fixed number for a limit the test checks.
   */
  timeoutMs?: number;
  /** Pause between polls (default 20 ms). */
  intervalMs?: number;
  /** What is being waited for; it names the failure. */
  message?: string;
  /** Stops waiting early, even during a pending check; waitFor then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Polls `condition` until it returns a truthy value and resolves with that value: the project's
 * replacement for sleeps in tests. A condition that throws counts as "not yet"; a check that is
 * still pending at the deadline is abandoned (a hung connection cannot stall a test). On timeout
 * the rejection names `message` and carries the last error, so a timeout explains itself. The
 * condition is always evaluated at least once, even with `timeoutMs: 0`.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { intervalMs = 20, message = 'condition', signal } = options;
  const timeoutMs = options.timeoutMs ?? scaledTimeout(DEFAULT_TIMEOUT_MS);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await settleBefore(Promise.resolve().then(condition), deadline - Date.now(), signal);
      if (value) return value as NonNullable<T>;
    } catch (err) {
      signal?.throwIfAborted();
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms${why}`, { cause: lastError });
    }
    try {
      await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())), undefined, { signal });
    } catch {
      signal?.throwIfAborted();
    }
  }
}

function settleBefore<T>(
  attempt: Promise<T>,
  remainingMs: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    const timer = setTimeout(
      () => {
        cleanup();
        reject(new Error('the last check was still pending at the deadline'));
      },
      Math.max(0, remainingMs),
    );
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    attempt.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}
