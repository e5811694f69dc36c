import { context, type Tracer } from '@opentelemetry/api';
import type { Validator } from '@bufbuild/protovalidate';
import { Code, ConnectError } from '@connectrpc/connect';
import { endRpcSpan, extractContext, startRpcServerSpan } from '@wxmesh/telemetry';
import { withRpcContext, type RpcContext } from './context.js';
import type { Dependency } from './dependencies.js';
import { toConnectError } from './errors.js';
import type { Logger } from './logger.js';
import type { RpcMetrics } from './metrics.js';
import type { Interceptor } from './pipeline.js';

const NO_IDENTITY = Object.freeze({});
const RPC_SYSTEM = { grpc: 'grpc', connect: 'connect_rpc', grpc_web: 'grpc' } as const;

/** Ends a unary call now with `reason`, whatever its handler is still doing. */
export type CutCall = (reason: ConnectError) => void;

const EXPIRED = new ConnectError('deadline exceeded before the call started', Code.DeadlineExceeded);

/**
 * Settles with the handler's outcome, or earlier with the reason the call ended: its `signal`
 * (the deadline, the caller gone; the grpc-js transport answers those itself, so only the http
 * port listens) or a `cut` (a drain out of grace). Either way the answer leaves then, and the
 * handler, told through `ctx.signal`, stops its own work.
 */
function answerBy<T>(work: Promise<T>, signal: AbortSignal | undefined, cut: Promise<never>): Promise<T> {
  work.catch(() => {});
  if (signal === undefined) return Promise.race([work, cut]);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason as unknown);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, cut, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

/** A unary call's early end: `cut` aborts the call's signal and settles `cutShort` with the reason. */
function cutter(ctx: RpcContext): { cut: CutCall; cutShort: Promise<never> } {
  let cut!: CutCall;
  const cutShort = new Promise<never>((_, reject) => {
    cut = (reason) => {
      ctx.abort(reason);
      reject(reason);
    };
  });
  return { cut, cutShort };
}

/**
 * The outermost step: opens the server span (parent taken from `traceparent`/`baggage`), binds the
 * RpcContext for outgoing calls, refuses new work while draining and calls whose deadline has
 * already passed, answers a unary call at its deadline (or when a drain cuts it) even if the
 * handler is still running, maps every failure to a caller-safe ConnectError, and records RED
 * metrics and one debug log line per call.
 */
export function observeInterceptor(deps: {
  tracer: Tracer;
  metrics: RpcMetrics;
  logger: Logger;
  isDraining: () => boolean;
  /**
   * Told when a unary call starts (with the function that ends it early) and ends, so a drain can
   * wait for exactly those calls and cut the ones still running when its grace is over.
   */
  unaryCalls?: { enter(cut: CutCall): void; exit(cut: CutCall): void };
  /** Whose out-of-reach failures callers see as Unavailable. */
  dependencies?: readonly Dependency[];
}): Interceptor {
  const { tracer, metrics, logger, isDraining, unaryCalls, dependencies = [] } = deps;
  const draining = new ConnectError('server is shutting down; retry on another replica', Code.Unavailable);
  return (next) => async (inv) => {
    const { ctx } = inv;
    const started = performance.now();
    // Trace parent and baggage from the request headers, minus any WeChat identity in them:
    // nobody vouches for those. The access step adds the resolved caller's identity.
    const parent = extractContext((name) => ctx.header(name), undefined, NO_IDENTITY);
    const span = startRpcServerSpan(tracer, {
      system: RPC_SYSTEM[ctx.protocol],
      service: ctx.service,
      method: ctx.method,
      parentContext: parent,
    });
    const callContext = withRpcContext(span.context, ctx);
    const unary = inv.send === undefined;
    const { cut, cutShort } = unary ? cutter(ctx) : { cut: undefined, cutShort: undefined };
    if (cut !== undefined) unaryCalls?.enter(cut);
    metrics.inFlight(1);
    let code = 0;
    let message: string | undefined;
    try {
      if (isDraining()) throw draining;
      if (ctx.deadline !== undefined && ctx.deadline <= Date.now()) throw EXPIRED;
      const work = context.with(callContext, next, undefined, inv);
      return await (cutShort === undefined
        ? work
        : answerBy(work, ctx.protocol === 'grpc' ? undefined : ctx.signal, cutShort));
    } catch (err) {
      const mapped = toConnectError(
        err,
        ctx.deadline,
        unary && ctx.protocol === 'grpc' ? undefined : ctx.signal,
        dependencies,
      );
      code = mapped.error.code;
      message = mapped.error.rawMessage;
      if (mapped.unexpected) {
        context.with(callContext, () =>
          logger.error({ err, rpc: `${ctx.service}/${ctx.method}` }, 'handler failed unexpectedly'),
        );
      }
      throw mapped.error;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      metrics.inFlight(-1);
      if (cut !== undefined) unaryCalls?.exit(cut);
      metrics.observe(ctx.service, ctx.method, ctx.protocol, code, seconds);
      endRpcSpan(span.span, { code, message });
      if (logger.isLevelEnabled('debug')) {
        context.with(callContext, () =>
          logger.debug(
            { rpc: `${ctx.service}/${ctx.method}`, protocol: ctx.protocol, code, ms: seconds * 1000 },
            'rpc finished',
          ),
        );
      }
    }
  };
}

/**
 * Rejects a request that breaks its protovalidate rules with InvalidArgument, naming every
 * violated field, before the handler sees it.
 */
export function validateInterceptor(validator: Validator): Interceptor {
  return (next) => (inv) => {
    const result = validator.validate(inv.method.input, inv.request);
    if (result.kind === 'valid') return next(inv);
    if (result.kind === 'invalid') {
      const details = result.error.violations.map((v) => v.toString()).join('; ');
      return Promise.reject(
        new ConnectError(`invalid ${inv.method.input.name}: ${details}`, Code.InvalidArgument),
      );
    }
    // A rule that fails to evaluate (e.g. a CEL timestamp() on a malformed date that passed a
    // looser pattern) is still about the request's content, not a server fault.
    return Promise.reject(
      new ConnectError(`invalid ${inv.method.input.name}: ${result.error.message}`, Code.InvalidArgument),
    );
  };
}
