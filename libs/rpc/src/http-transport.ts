import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DescMethod, Message } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type HandlerContext,
} from '@connectrpc/connect';
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from '@connectrpc/connect-node';
import type { UniversalHandler } from '@connectrpc/connect/protocol';
import { servedAtEdge, type MethodAccess } from './access.js';
import { ANONYMOUS, callerIdentity, type Caller } from './caller.js';
import type { RpcContext, RpcProtocol } from './context.js';
import type { Next } from './pipeline.js';
import type { ServiceRegistration } from './service.js';
import type { ServerLimits } from './limits.js';
import { CLIENT_SAFE_COMPRESSION, rewriteClientFault } from './http-client-faults.js';
import { edgeSafeError } from './http-edge-errors.js';
import { closeWhenBodyUnread } from './http-limits.js';
import { createOversizeRefusal } from './http-oversize.js';
import type { Logger } from './logger.js';

/**
 * An extra HTTP route on the `http` port (a webhook, say). Return true when the request was
 * handled; false passes it on to the next route and finally to 404.
 */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

const PROTOCOLS: Record<string, RpcProtocol> = { connect: 'connect', 'grpc-web': 'grpc_web', grpc: 'grpc' };

function connectContext(method: DescMethod, hctx: HandlerContext, streamStop?: AbortSignal): RpcContext {
  const timeoutMs = hctx.timeoutMs();
  const headers = hctx.requestHeader;
  const header = (name: string): string | undefined => headers.get(name) ?? undefined;
  const own = new AbortController();
  const signals = [hctx.signal, own.signal];
  if (streamStop !== undefined) signals.push(streamStop);
  return {
    service: method.parent.typeName,
    method: method.name,
    protocol: PROTOCOLS[hctx.protocolName] ?? 'connect',
    caller: ANONYMOUS as Caller,
    get wechat() {
      return callerIdentity(this.caller);
    },
    deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
    signal: AbortSignal.any(signals),
    header,
    abort: (reason) => own.abort(reason),
  };
}

/**
 * Adapts a push-style `send` (what the kit's chain calls) to the async iterable connect-node
 * pulls from. `send` resolves only once the transport has taken the message, which is the
 * same backpressure grpc-js gives through 'drain'.
 */
async function* pullStream(run: (send: (message: Message) => Promise<void>) => Promise<unknown>) {
  let pending: { message: Message; ack: () => void; nack: (error: unknown) => void } | undefined;
  let wake: (() => void) | undefined;
  let closed = false;
  let finished = false;
  let failure: { error: unknown } | undefined;
  const gone = () => new DOMException('the caller went away', 'AbortError');
  const send = (message: Message) =>
    closed
      ? Promise.reject(gone())
      : new Promise<void>((ack, nack) => {
          pending = { message, ack, nack };
          wake?.();
        });
  const settle = (error?: { error: unknown }) => {
    failure = error;
    finished = true;
    wake?.();
  };
  run(send).then(
    () => settle(),
    (error: unknown) => settle({ error }),
  );
  try {
    for (;;) {
      if (pending !== undefined) {
        const { message, ack } = pending;
        pending = undefined;
        yield message;
        ack();
        continue;
      }
      if (finished) {
        if (failure !== undefined) throw failure.error;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    // The transport stopped pulling (caller gone or stream failed): a handler blocked in send()
    // must not wait forever.
    closed = true;
    pending?.nack(gone());
    pending = undefined;
  }
}

/**
 * Set per request by the http handler; the kit's implementation marks it once connect-es has
 * parsed the request and handed it over. An error answer to a request that was never handed over
 * is connect-es' own, and only such answers are checked for misclassified client faults.
 */
const HANDED_OVER = createContextKey<{ handedOver: boolean } | undefined>(undefined, {
  description: 'wxmesh request handed to the kit',
});

const rethrowEdgeSafe = (err: unknown): never => {
  throw edgeSafeError(err);
};

function connectRoutes(
  services: readonly ServiceRegistration[],
  invokers: Map<DescMethod, Next>,
  accessOf: (method: DescMethod) => MethodAccess,
  streamStop: AbortSignal,
) {
  return (router: ConnectRouter) => {
    for (const { desc } of services) {
      for (const method of desc.methods) {
        // An RPC not served at the edge is not routed here at all: it answers exactly like an
        // unknown method, so the edge cannot even tell which internal RPCs exist.
        if (!servedAtEdge(accessOf(method))) continue;
        const invoke = invokers.get(method)!;
        const handOver = (hctx: HandlerContext) => {
          const mark = hctx.values.get(HANDED_OVER);
          if (mark !== undefined) mark.handedOver = true;
        };
        const implementation =
          method.methodKind === 'unary'
            ? (request: Message, hctx: HandlerContext) => {
                handOver(hctx);
                return invoke({ method, request, ctx: connectContext(method, hctx), send: undefined }).catch(
                  rethrowEdgeSafe,
                );
              }
            : (request: Message, hctx: HandlerContext) => {
                handOver(hctx);
                return pullStream((send) =>
                  invoke({ method, request, ctx: connectContext(method, hctx, streamStop), send }).catch(
                    rethrowEdgeSafe,
                  ),
                );
              };
        router.rpc(method, implementation as never);
      }
    }
  };
}

/** Serves one RPC request: connect-es' handler, with the kit's body bound and client-fault rewrite. */
async function serveRpc(
  handler: UniversalHandler,
  req: IncomingMessage,
  res: ServerResponse,
  oversize: ReturnType<typeof createOversizeRefusal>,
): Promise<void> {
  if (oversize.refuseDeclared(req, res)) return;
  if (req.headers.host === undefined) {
    // An HTTP/1.0 request may omit Host; connect-node cannot build the request URL without it.
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'invalid_argument', message: 'the request has no Host header' }));
    return;
  }
  const mark = { handedOver: false };
  const uReq = universalRequestFromNodeRequest(
    req,
    res,
    undefined,
    createContextValues().set(HANDED_OVER, mark),
  );
  let uRes = await handler({ ...uReq, body: oversize.bounded(req) });
  if (!mark.handedOver) uRes = await rewriteClientFault(uRes, handler.method.input.typeName);
  await universalResponseToNodeResponse(uRes, res);
}

/**
 * The request handler of the `http` port: Connect (JSON and binary) and gRPC-Web for every RPC
 * served at the edge (PUBLIC or EDGE audience), then the extra routes, then 404.
 *
 * Built from connect-es' router and connect-node's request/response conversions (what its
 * `connectNodeAdapter` does) so that the kit can bound each request's body, correct the errors
 * connect-es misreports as its own fault (see http-client-faults.ts), and close a connection
 * whose request body was refused instead of reading it to the end.
 */
export function createHttpHandler(options: {
  services: readonly ServiceRegistration[];
  invokers: Map<DescMethod, Next>;
  accessOf: (method: DescMethod) => MethodAccess;
  routes: readonly HttpRoute[];
  /** Aborted when a drain ends the server's streams. */
  streamStop: AbortSignal;
  limits: ServerLimits;
  /** Where a failure to answer is logged (a route that threw, a write that failed). */
  logger?: Logger;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const { routes, limits, logger } = options;
  const router = createConnectRouter({
    connect: true,
    grpcWeb: true,
    grpc: false,
    readMaxBytes: limits.maxRequestBytes,
    acceptCompression: CLIENT_SAFE_COMPRESSION,
  });
  connectRoutes(options.services, options.invokers, options.accessOf, options.streamStop)(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const oversize = createOversizeRefusal(limits.maxRequestBytes);

  async function fallback(req: IncomingMessage, res: ServerResponse) {
    for (const route of routes) {
      if (await route(req, res)) return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'not_found', message: `no route for ${req.method} ${req.url}` }));
  }

  const failed = (req: IncomingMessage, res: ServerResponse) => (err: unknown) => {
    if (ConnectError.from(err).code === Code.Aborted) return;
    logger?.warn({ err, path: req.url?.split('?', 1)[0] }, 'http request not answered');
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'internal', message: 'internal error' }));
    } else res.destroy();
  };

  return (req, res) => {
    closeWhenBodyUnread(req, res);
    const handler = handlers.get(req.url?.split('?', 1)[0] ?? '');
    const served = handler === undefined ? fallback(req, res) : serveRpc(handler, req, res, oversize);
    served.catch(failed(req, res));
  };
}
