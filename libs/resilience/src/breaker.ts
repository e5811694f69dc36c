import type { EventEmitter } from 'node:events';
import { trace } from '@opentelemetry/api';
import CircuitBreaker from 'opossum';
import { Counter, Gauge, register as globalRegister, type Registry } from 'prom-client';

export type BreakerState = 'closed' | 'half-open' | 'open';

/** How each call ended, as counted in `wxmesh_breaker_calls_total{result}`. */
export type BreakerCallResult = 'success' | 'failure' | 'timeout' | 'reject' | 'ignored' | 'cancelled';

export interface BreakerOptions {
  /** Per-call time limit in ms; the call's signal is aborted when it passes. `false`: no limit. Default 10 000. */
  timeout: number | false;
  /** Length of the rolling statistics window in ms. Default 10 000. */
  rollingCountTimeout: number;
  /** Buckets the window is divided into; must divide `rollingCountTimeout`. Default 10. */
  rollingCountBuckets: number;
  /** Failure percentage in the window above which the breaker opens. Default 50. */
  errorThresholdPercentage: number;
  /** Calls needed in the window before the breaker may open at all. Default 5. */
  volumeThreshold: number;
  /** Time in ms the breaker stays open before letting one probe call through (half-open). Default 10 000. */
  resetTimeout: number;
  /**
   * Whether an error says the dependency is unwell. Errors for which this returns false (a peer's
   * InvalidArgument, NotFound ...) are passed to the caller but count as healthy responses.
   * Timeouts always count. Default: every error counts.
   */
  isFailure: (err: unknown) => boolean;
  /** Where the metrics go. Default: prom-client's global registry. */
  registry: Registry;
}

/** A call was refused without being attempted because the breaker is open (or shut down). */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError';
  constructor(readonly breaker: string) {
    super(`circuit breaker "${breaker}" is open; the call was not attempted`);
  }
}

/** A call exceeded the breaker's timeout; its signal has been aborted with this error as the reason. */
export class BreakerTimeoutError extends Error {
  override readonly name = 'BreakerTimeoutError';
  constructor(
    readonly breaker: string,
    readonly timeoutMs: number,
  ) {
    super(`call through circuit breaker "${breaker}" timed out after ${timeoutMs} ms`);
  }
}

export interface Breaker<A extends unknown[], R> {
  readonly name: string;
  /** Calls `fn(signal, ...args)` through the breaker. */
  fire(...args: A): Promise<R>;
  /**
   * Like {@link fire}, but `signal` (the caller's cancellation) also aborts the call. A call the caller
   * cancelled is not counted against the dependency.
   */
  fireWithSignal(signal: AbortSignal | undefined, ...args: A): Promise<R>;
  state(): BreakerState;
  /** Stops the breaker's timers and removes its metric series; later calls fail with BreakerOpenError. */
  shutdown(): void;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Per-call context passed to opossum as the first argument, so its 'timeout' event can find the call. */
interface CallContext {
  readonly controller: AbortController;
  cancelledByCaller: boolean;
}

/** The opossum breaker of one {@link Breaker}, as its callers drive it. */
type Opossum<A extends unknown[], R> = CircuitBreaker<[CallContext, ...A], R>;

/** What one breaker's units share: its name, its opossum instance, its settings and its metrics. */
interface BreakerParts<A extends unknown[], R> {
  readonly name: string;
  readonly opossum: Opossum<A, R>;
  readonly isFailure: (err: unknown) => boolean;
  /** The per-call time limit in ms, 0 when there is none (as reported in {@link BreakerTimeoutError}). */
  readonly timeoutMs: number;
  readonly metrics: BreakerMetrics;
}

/**
 * Guards calls to one dependency with an opossum circuit breaker, so a dead or slow peer fails fast
 * instead of piling up timeouts.
 *
 * `fn` gets an AbortSignal first and must honour it: the signal is aborted when the call times out
 * (and when the caller's signal aborts, with {@link Breaker.fireWithSignal}). opossum's own
 * `abortController` option holds ONE controller for the whole breaker, so one slow call would abort
 * every call in flight; instead each call gets its own controller, passed to opossum's action as the
 * first argument, and the `timeout` event (which carries the call's arguments) aborts exactly that one.
 *
 * While open, calls are rejected with {@link BreakerOpenError} without invoking `fn`; after
 * `resetTimeout` one probe call is let through: success closes the breaker, failure reopens it.
 * Timeouts reject with {@link BreakerTimeoutError}; other errors are passed through unchanged.
 *
 * Observability: gauge `wxmesh_breaker_state{breaker}` (0 closed, 1 half-open, 2 open), counter
 * `wxmesh_breaker_calls_total{breaker,result}`, and span events on the active span: `breaker.open`
 * and `breaker.close` on the call that caused the transition, `breaker.half_open` on the probe call
 * (the transition itself happens on a timer, with no request to attach it to), and `breaker.reject`
 * on each rejected call. Breaker names must be unique per registry.
 */
export function createBreaker<A extends unknown[], R>(
  name: string,
  fn: (signal: AbortSignal, ...args: A) => Promise<R>,
  options: Partial<BreakerOptions> = {},
): Breaker<A, R> {
  const isFailure = options.isFailure ?? (() => true);
  const timeout = options.timeout ?? 10_000;
  const parts: BreakerParts<A, R> = {
    name,
    opossum: createOpossum(name, fn, { ...options, timeout, isFailure }),
    isFailure,
    timeoutMs: timeout || 0,
    metrics: breakerMetrics(options.registry ?? globalRegister),
  };
  observeBreaker(parts);
  return {
    name,
    fire: (...args: A) => fireThroughBreaker(parts, undefined, args),
    fireWithSignal: (signal: AbortSignal | undefined, ...args: A) => fireThroughBreaker(parts, signal, args),
    state: () => breakerState(parts.opossum),
    shutdown: () => {
      parts.opossum.shutdown();
      parts.metrics.state.remove({ breaker: name });
    },
  };
}

/**
 * The opossum instance behind a breaker, with the defaults of {@link BreakerOptions}. Its action
 * hands `fn` the call's own signal; its error filter counts opossum's own errors and those
 * `isFailure` accepts as failures, and never a call its caller cancelled.
 */
function createOpossum<A extends unknown[], R>(
  name: string,
  fn: (signal: AbortSignal, ...args: A) => Promise<R>,
  options: Partial<BreakerOptions> & Pick<BreakerOptions, 'timeout' | 'isFailure'>,
): Opossum<A, R> {
  return new CircuitBreaker<[CallContext, ...A], R>(
    (call: CallContext, ...args: A) => fn(call.controller.signal, ...args),
    {
      name,
      timeout: options.timeout,
      rollingCountTimeout: options.rollingCountTimeout ?? 10_000,
      rollingCountBuckets: options.rollingCountBuckets ?? 10,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 5,
      resetTimeout: options.resetTimeout ?? 10_000,
      // Snapshots are only needed by opossum's Hystrix-style stats stream; skip their timer.
      enableSnapshots: false,
      // true means "do not count as a failure". opossum 9 passes the call's arguments after the
      // error; @types/opossum (written for 8) declares only the error, hence the cast.
      errorFilter: ((err: unknown, call: CallContext) => {
        if (CircuitBreaker.isOurError(err as Error)) return false;
        if (call.cancelledByCaller) return true;
        return !options.isFailure(err);
      }) as (err: unknown) => boolean,
    },
  );
}

function breakerState<A extends unknown[], R>(opossum: Opossum<A, R>): BreakerState {
  return opossum.opened ? 'open' : opossum.halfOpen ? 'half-open' : 'closed';
}

/** Adds `event` to the active span, if it records. */
function addSpanEvent(name: string, event: string): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.addEvent(event, { 'breaker.name': name });
}

/**
 * Follows the breaker's transitions: the state gauge on every one, span events on opening and
 * closing, and the abort of exactly the call that timed out.
 */
function observeBreaker<A extends unknown[], R>(parts: BreakerParts<A, R>): void {
  const { name, opossum, metrics } = parts;
  const setGauge = () => metrics.state.set({ breaker: name }, STATE_VALUE[breakerState(opossum)]);
  setGauge();
  opossum.on('open', () => {
    setGauge();
    addSpanEvent(name, 'breaker.open');
  });
  opossum.on('halfOpen', setGauge);
  opossum.on('close', () => {
    setGauge();
    addSpanEvent(name, 'breaker.close');
  });
  // The 'timeout' event also carries latency and the call's arguments (not in @types/opossum).
  (opossum as EventEmitter).on('timeout', (_err: unknown, _latency: number, args: unknown[]) => {
    const call = args[0] as CallContext | undefined;
    call?.controller.abort(new BreakerTimeoutError(name, parts.timeoutMs));
  });
}

/**
 * One call through the breaker with its own controller, which the caller's `signal` (if any) also
 * aborts. Counts the call's result and turns opossum's rejections into this module's errors.
 */
async function fireThroughBreaker<A extends unknown[], R>(
  parts: BreakerParts<A, R>,
  signal: AbortSignal | undefined,
  args: A,
): Promise<R> {
  signal?.throwIfAborted();
  const call: CallContext = { controller: new AbortController(), cancelledByCaller: false };
  const onCallerAbort = () => {
    call.cancelledByCaller = true;
    call.controller.abort(signal?.reason);
  };
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (parts.opossum.halfOpen && parts.opossum.pendingClose) addSpanEvent(parts.name, 'breaker.half_open');
  try {
    const result = await parts.opossum.fire(call, ...args);
    countCall(parts, 'success');
    return result;
  } catch (err) {
    throw failureOf(parts, call, err);
  } finally {
    signal?.removeEventListener('abort', onCallerAbort);
  }
}

/**
 * What a failed call rejects with, counted by how it ended: {@link BreakerOpenError} for a call
 * the breaker refused, {@link BreakerTimeoutError} for one it timed out, else the call's own error.
 */
function failureOf<A extends unknown[], R>(
  parts: BreakerParts<A, R>,
  call: CallContext,
  err: unknown,
): unknown {
  const code = CircuitBreaker.isOurError(err as Error) ? (err as { code?: string }).code : undefined;
  if (code === 'EOPENBREAKER' || code === 'ESHUTDOWN') {
    countCall(parts, 'reject');
    addSpanEvent(parts.name, 'breaker.reject');
    return new BreakerOpenError(parts.name);
  }
  if (code === 'ETIMEDOUT') {
    countCall(parts, 'timeout');
    const reason: unknown = call.controller.signal.reason;
    return reason instanceof BreakerTimeoutError
      ? reason
      : new BreakerTimeoutError(parts.name, parts.timeoutMs);
  }
  countCall(parts, call.cancelledByCaller ? 'cancelled' : parts.isFailure(err) ? 'failure' : 'ignored');
  return err;
}

function countCall<A extends unknown[], R>(parts: BreakerParts<A, R>, result: BreakerCallResult): void {
  parts.metrics.calls.inc({ breaker: parts.name, result });
}

interface BreakerMetrics {
  state: Gauge<'breaker'>;
  calls: Counter<'breaker' | 'result'>;
}

/** One set of series per registry, shared by every breaker registered there. */
function breakerMetrics(registry: Registry): BreakerMetrics {
  const state =
    (registry.getSingleMetric('wxmesh_breaker_state') as Gauge<'breaker'> | undefined) ??
    new Gauge({
      name: 'wxmesh_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      labelNames: ['breaker'],
      registers: [registry],
    });
  const calls =
    (registry.getSingleMetric('wxmesh_breaker_calls_total') as Counter<'breaker' | 'result'> | undefined) ??
    new Counter({
      name: 'wxmesh_breaker_calls_total',
      help: 'Calls through a circuit breaker by result: success, failure, timeout, reject (breaker open), ignored (error not counted as a failure), cancelled (by the caller).',
      labelNames: ['breaker', 'result'],
      registers: [registry],
    });
  return { state, calls };
}
