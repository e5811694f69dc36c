/** Runs of one piece of work by key, shared while one is in flight. */
export interface SingleFlight<T> {
  /** The running attempt for `key` if there is one, else a new `run()` shared until it settles. */
  run(key: string, run: () => Promise<T>): Promise<T>;
}

/**
 * Concurrent callers with the same key share one attempt (WeChat Pay redelivering a notification
 * while the first delivery is still being applied); once it settles the next call runs afresh.
 */
export function createSingleFlight<T>(): SingleFlight<T> {
  const inflight = new Map<string, Promise<T>>();
  return {
    run(key, run) {
      const running = inflight.get(key);
      if (running) return running;
      const attempt = run().finally(() => inflight.delete(key));
      inflight.set(key, attempt);
      return attempt;
    },
  };
}
