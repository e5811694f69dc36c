import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DescMethod, Message } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { servedAtEdge, type MethodAccess } from './access.js';
import { ANONYMOUS, callerIdentity, type Caller } from './caller.js';
import type { RpcContext, RpcProtocol } from './context.js';
import type { Next } from './pipeline.js';
import type { ServiceRegistration } from './service.js';

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
        const implementation =
          method.methodKind === 'unary'
            ? (request: Message, hctx: HandlerContext) =>
                invoke({ method, request, ctx: connectContext(method, hctx), send: undefined })
            : (request: Message, hctx: HandlerContext) =>
                pullStream((send) =>
                  invoke({ method, request, ctx: connectContext(method, hctx, streamStop), send }),
                );
        router.rpc(method, implementation as never);
      }
    }
  };
}

/**
 * The request handler of the `http` port: Connect (JSON and binary) and gRPC-Web for every RPC
 * served at the edge (PUBLIC or EDGE audience), then the extra routes, then 404.
 */
export function createHttpHandler(options: {
  services: readonly ServiceRegistration[];
  invokers: Map<DescMethod, Next>;
  accessOf: (method: DescMethod) => MethodAccess;
  routes: readonly HttpRoute[];
  /** Aborted when a drain ends the server's streams. */
  streamStop: AbortSignal;
}) {
  const { routes } = options;
  return connectNodeAdapter({
    routes: connectRoutes(options.services, options.invokers, options.accessOf, options.streamStop),
    connect: true,
    grpcWeb: true,
    grpc: false,
    async fallback(req, res) {
      for (const route of routes) {
        if (await route(req as IncomingMessage, res as ServerResponse)) return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'not_found', message: `no route for ${req.method} ${req.url}` }));
    },
  });
}
