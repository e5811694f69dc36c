import { randomBytes } from 'node:crypto';
import type { DescService } from '@bufbuild/protobuf';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { wechatToHeaders, type WeChatIdentity } from '@wxmesh/telemetry';
import type { MeshEndpoints } from './local-mesh.js';

/**
 * Who a call is made as:
 * - `gateway` (default): the WeChat cloud gateway forwarding a mini-program user's call to the
 *   edge — Connect JSON over HTTP/1.1 on the service's http port, the user in `X-WX-*` headers
 *   (or, with `sessionToken`, as `Authorization: Bearer` instead).
 * - `{ peer }`: a mesh peer (`business-backend`, `operator`) on the grpc port, known by the name
 *   it declares in `x-wxmesh-peer`. Only a local mesh (`PEER_IDENTITY=declared`) believes that; in
 *   a cluster the peer's mTLS identity decides.
 */
export type Caller = 'gateway' | { readonly peer: string };

/** Options of one client or call. */
export interface GatewayCallOptions {
  readonly as?: Caller;
  /** The mini-program user the gateway vouches for (or the user a peer acts for). */
  readonly user?: WeChatIdentity;
  /** A session token from Login, sent as `Authorization: Bearer` (a user without the gateway). */
  readonly sessionToken?: string;
  /**
   * The W3C trace id (32 hex) every call of this client joins: the cloud gateway starts one trace
   * per user request, and a journey step with several calls is one trace. Default: a new one.
   */
  readonly traceId?: string;
}

/** A new random W3C trace id (32 lowercase hex, never all zero). */
export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** `traceparent` of a gateway span in trace `traceId`: version 00, a fresh span id, sampled. */
function traceparent(traceId: string): string {
  return `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
}

/** The headers the cloud gateway (or a peer) sets on every call. */
function callerHeaders(options: GatewayCallOptions, traceId: string): Interceptor {
  const peer = typeof options.as === 'object' ? options.as.peer : undefined;
  return (next) => (req) => {
    req.header.set('traceparent', traceparent(traceId));
    if (peer !== undefined) req.header.set('x-wxmesh-peer', peer);
    if (options.sessionToken !== undefined) req.header.set('authorization', `Bearer ${options.sessionToken}`);
    if (options.user !== undefined)
      wechatToHeaders(options.user, (name, value) => req.header.set(name, value));
    return next(req);
  };
}

/** A typed client of one service, and the trace id its calls join. */
export interface GatewayServiceClient<S extends DescService> {
  readonly client: Client<S>;
  readonly traceId: string;
}

/**
 * Calls wxmesh the way its callers do. `endpoints` says where each service listens
 * ({@link localMesh} for `npm start`'s mesh).
 *
 * ```ts
 * const gw = createGatewayClient(localMesh());
 * const { client, traceId } = gw.client(AuthVerifyService, { user: { openid, appid } });
 * const login = await client.login({ appid, jsCode });
 * ```
 */
export function createGatewayClient(endpoints: MeshEndpoints) {
  return {
    client<S extends DescService>(service: S, options: GatewayCallOptions = {}): GatewayServiceClient<S> {
      const traceId = options.traceId ?? newTraceId();
      const interceptors = [callerHeaders(options, traceId)];
      const transport =
        options.as === undefined || options.as === 'gateway'
          ? createConnectTransport({
              baseUrl: endpoints.http(service.typeName),
              httpVersion: '1.1',
              useBinaryFormat: false,
              interceptors,
            })
          : createGrpcTransport({ baseUrl: endpoints.grpc(service.typeName), interceptors });
      return { client: createClient(service, transport), traceId };
    },
  };
}

export type GatewayClient = ReturnType<typeof createGatewayClient>;
