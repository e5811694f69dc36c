import type { Logger } from './logger.js';

/**
 * Something a service cannot serve without (Redis, Kafka): how to probe it and how to recognise
 * its "out of reach" failures, so readiness and the error mapping agree about it.
 */
export interface Dependency {
  /** Names it in `/readyz`, logs and the Unavailable message (`redis`, `kafka`). */
  readonly name: string;
  /** Resolves when the dependency answers; it is also cut by the watcher's own timeout. */
  check(): Promise<unknown>;
  /**
   * True when a handler's error means this dependency is out of reach (a timeout, a closed
   * connection), which the caller sees as Unavailable rather than Internal.
   */
  isUnavailable?(err: unknown): boolean;
}

/** Options of {@link watchDependencies}. */
export interface DependencyWatchOptions {
  readonly dependencies: readonly Dependency[];
  readonly logger: Logger;
  /** Time between probes of each dependency. */
  readonly intervalMs: number;
  /** A probe not answered within this counts as a failure. */
  readonly timeoutMs: number;
  /** Told the names of the unreachable dependencies whenever that set changes. */
  readonly onChange: (unreachable: readonly string[]) => void;
}

/**
 * Probes every dependency on its own timer (never two probes of one at once) and reports which
 * are unreachable whenever that changes: the server's readiness follows it, so a replica whose
 * Redis is down or frozen leaves the load balancer within one interval plus one timeout.
 */
export function watchDependencies(options: DependencyWatchOptions): { stop(): void } {
  const { dependencies, logger, intervalMs, timeoutMs, onChange } = options;
  const unreachable = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const record = (name: string, reachable: boolean, err?: unknown) => {
    if (reachable !== unreachable.has(name)) return;
    if (reachable) {
      unreachable.delete(name);
      logger.info({ dependency: name }, 'dependency reachable again: ready');
    } else {
      unreachable.add(name);
      const reason = err instanceof Error ? err.message : String(err);
      logger.warn({ dependency: name, reason }, 'dependency unreachable: not ready');
    }
    onChange([...unreachable]);
  };

  const probe = async (dependency: Dependency) => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([dependency.check(), timedOut]);
      record(dependency.name, true);
    } catch (err) {
      record(dependency.name, false, err);
    } finally {
      clearTimeout(timer);
    }
    if (!stopped) schedule(dependency);
  };

  const schedule = (dependency: Dependency) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void probe(dependency);
    }, intervalMs);
    timer.unref();
    timers.add(timer);
  };

  for (const dependency of dependencies) schedule(dependency);
  return {
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** The dependency whose out-of-reach failure `err` is, if any. */
export function unavailableDependency(
  dependencies: readonly Dependency[],
  err: unknown,
): Dependency | undefined {
  return dependencies.find((dependency) => dependency.isUnavailable?.(err) === true);
}
