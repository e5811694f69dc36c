import { context, type Tracer } from '@opentelemetry/api';
import type { Validator } from '@bufbuild/protovalidate';
import { Code, ConnectError } from '@connectrpc/connect';
import { endRpcSpan, extractContext, startRpcServerSpan } from '@wxmesh/telemetry';
import { withRpcContext } from './context.js';
import { toConnectError } from './errors.js';
import type { Logger } from './logger.js';
import type { RpcMetrics } from './metrics.js';
import type { Interceptor } from './pipeline.js';

const NO_IDENTITY = Object.freeze({});
const RPC_SYSTEM = { grpc: 'grpc', connect: 'connect_rpc', grpc_web: 'grpc' } as const;

/**
 * The outermost step: opens the server span (parent taken from `traceparent`/`baggage`), binds the RpcContext for outgoing calls, refuses new work
 * while draining, maps every failure to a caller-safe ConnectError, and records RED metrics
 * and one debug log line per call.
 */
export function observeInterceptor(deps: {
  tracer: Tracer;
  metrics: RpcMetrics;
  logger: Logger;
  isDraining: () => boolean;
  /** Told when a unary call starts and ends, so a drain can wait for exactly those calls. */
  unaryCalls?: { enter(): void; exit(): void };
}): Interceptor {
  const { tracer, metrics, logger, isDraining, unaryCalls } = deps;
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
    if (unary) unaryCalls?.enter();
    metrics.inFlight(1);
    let code = 0;
    let message: string | undefined;
    try {
      if (isDraining()) throw draining;
      return await context.with(callContext, next, undefined, inv);
    } catch (err) {
      const mapped = toConnectError(err, ctx.deadline, unary ? undefined : ctx.signal);
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
      if (unary) unaryCalls?.exit();
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
