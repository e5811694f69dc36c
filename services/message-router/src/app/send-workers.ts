import { setMaxListeners } from 'node:events';
import type { DeliveryStore, QueuedJob } from '../adapters/delivery-store.js';
import { runSendAttempt, type SendAttemptDeps } from './send-attempt.js';

/** Options of {@link createSendWorkers}. */
export interface SendWorkersOptions {
  /** Jobs in flight at once in this process: the bound on its memory and its share of the rate. */
  readonly concurrency: number;
  /** This process's consumer name in the `senders` group (unique per process lifetime). */
  readonly consumer: string;
  /** A job held longer than this by a consumer is taken over (its process died). */
  readonly claimIdleMs: number;
  /** How often due retries are moved back onto the streams. */
  readonly promoteIntervalMs: number;
  /** How long an idle read blocks. */
  readonly blockMs: number;
}

type WorkerDeps = Omit<SendAttemptDeps, 'signal'> & { readonly store: DeliveryStore };

/**
 * The bounded pool that drains the send queue: at most `concurrency` jobs in flight, read
 * highest priority first, plus the jobs dead consumers left pending (XAUTOCLAIM) and the delayed
 * retries that came due. `stop` stops taking jobs and waits for those in flight to be recorded.
 */
export function createSendWorkers(deps: WorkerDeps, options: SendWorkersOptions) {
  const stopping = new AbortController();
  // Every worker waiting for the rate limit listens for the stop.
  setMaxListeners(options.concurrency + 10, stopping.signal);
  const inflight = new Set<Promise<void>>();
  let loop: Promise<void> | undefined;
  let promoter: NodeJS.Timeout | undefined;
  let lastReclaimAt = 0;
  const attemptDeps: SendAttemptDeps = { ...deps, signal: stopping.signal };

  function run(job: QueuedJob): void {
    const task = runSendAttempt(job, attemptDeps)
      .catch((err: unknown) => {
        // The job stays pending in the stream and is reclaimed after claimIdleMs.
        deps.logger.warn(
          { err, deliveryId: job.deliveryId },
          'send attempt failed; the job will be reclaimed',
        );
      })
      .finally(() => inflight.delete(task));
    inflight.add(task);
  }

  async function nextJobs(free: number): Promise<QueuedJob[]> {
    const now = deps.now();
    if (now - lastReclaimAt >= options.claimIdleMs / 2) {
      lastReclaimAt = now;
      const reclaimed = await deps.store.reclaim(options.consumer, options.claimIdleMs, free);
      if (reclaimed.length > 0) return reclaimed;
    }
    return deps.store.read(options.consumer, free, options.blockMs);
  }

  async function drain(): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const free = options.concurrency - inflight.size;
      if (free <= 0) {
        await Promise.race(inflight);
        continue;
      }
      try {
        for (const job of await nextJobs(free)) run(job);
        failures = 0;
      } catch (err) {
        failures++;
        deps.logger.warn({ err }, 'reading the send queue failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** failures)));
      }
    }
  }

  function promote(): void {
    deps.store
      .promoteDue(deps.now())
      .catch((err: unknown) => deps.logger.warn({ err }, 'promoting due retries failed'));
  }

  return {
    start(): void {
      promoter = setInterval(promote, options.promoteIntervalMs);
      promoter.unref();
      loop = drain();
    },
    async stop(): Promise<void> {
      stopping.abort();
      clearInterval(promoter);
      await loop;
      await Promise.allSettled([...inflight]);
    },
  };
}

export type SendWorkers = ReturnType<typeof createSendWorkers>;
