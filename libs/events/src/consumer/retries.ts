/** Thrown out of a batch whose partition was revoked or whose consumer is stopping: nothing more is applied. */
export class BatchAbandoned extends Error {}

/** What a batch's retries and dead letters need: whether to go on, and a heartbeat. */
export interface BatchControl {
  live(): boolean;
  heartbeat(): Promise<void>;
}

/** How {@link withRetries} waits and which failures it retries without counting. */
export interface RetryPolicy {
  /** First pause between attempts, doubled each time up to 5 s. */
  readonly backoffMs: number;
  /** Failures that say nothing about the work: retried without limit. */
  isTransient(err: unknown): boolean;
  now(): number;
  /** Told before each retry (metrics, logs). */
  onRetry(err: unknown, transient: boolean): void;
}

/** The outcome of {@link withRetries}: the value, or the last error after `attempts` counted failures. */
export type RetryOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown; attempts: number };

const MAX_BACKOFF_MS = 5_000;

/**
 * Runs `fn` until it succeeds: transient failures without limit, others `limit` times, with
 * doubling pauses. Throws {@link BatchAbandoned} as soon as `control` says the batch is over.
 */
export async function withRetries<T>(
  fn: () => Promise<T>,
  control: BatchControl,
  limit: number,
  policy: RetryPolicy,
): Promise<RetryOutcome<T>> {
  let attempts = 0;
  let delay = policy.backoffMs;
  for (;;) {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      const transient = policy.isTransient(err);
      if (!transient) attempts++;
      if (!transient && attempts >= limit) return { ok: false, error: err, attempts };
      policy.onRetry(err, transient);
      await pauseWhileLive(delay, control, policy.now);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  }
}

/**
 * Waits `ms` by `now`'s clock in steps of at most 250 ms, throwing {@link BatchAbandoned} when the
 * batch stops being live meanwhile; heartbeats once the wait is over.
 */
export async function pauseWhileLive(ms: number, control: BatchControl, now: () => number): Promise<void> {
  const until = now() + ms;
  while (now() < until) {
    if (!control.live()) throw new BatchAbandoned();
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - now())));
  }
  await control.heartbeat();
}
