/** Runs of one piece of work by key, shared while one is in flight. */
export interface SingleFlight<T> {
  /**
   * The running attempt for `key` if there is one, else a new `run()` shared until it settles.
   * A caller that joined a running attempt gets its result through `forSharers` when given (what
   * a copy that did no work of its own should hear).
   */
  run(key: string, run: () => Promise<T>, forSharers?: (result: T) => T): Promise<T>;
}

/**
 * Concurrent callers with the same key share one attempt (WeChat Pay redelivering a notification
 * while the first delivery is still being applied); once it settles the next call runs afresh.
 */
export function createSingleFlight<T>(): SingleFlight<T> {
  const inflight = new Map<string, Promise<T>>();
  return {
    run(key, run, forSharers) {
      const running = inflight.get(key);
      if (running) return forSharers ? running.then(forSharers) : running;
      const attempt = run().finally(() => inflight.delete(key));
      inflight.set(key, attempt);
      return attempt;
    },
  };
}
