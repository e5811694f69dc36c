import { context as otelContext, createContextKey, type Context } from '@opentelemetry/api';
import type { WeChatIdentity } from '@wxmesh/telemetry';
import type { Caller } from './caller.js';

/** Which wire protocol a call arrived on. */
export type RpcProtocol = 'grpc' | 'connect' | 'grpc_web';

/**
 * What a handler knows about the call it is serving, identical on both ports.
 *
 * Handlers read identity and deadline from here instead of from transport objects, so the
 * same implementation serves grpc-js and connect-node without knowing which one called it.
 */
export interface RpcContext {
  /** Fully-qualified service name, e.g. `wxmesh.session.v1.SessionService`. */
  readonly service: string;
  /** Method name as declared in the proto, e.g. `GetSession`. */
  readonly method: string;
  readonly protocol: RpcProtocol;
  /**
   * Who is calling, resolved once by the kit before the handler runs (anonymous until then): a
   * user at the edge, a mesh peer, or nobody. Handlers act for `caller`, never for a user id taken
   * from the request body on trust (see `actingFor`).
   */
  readonly caller: Caller;
  /**
   * The WeChat identity the call carries on for its caller (the user, or the user a peer acts
   * for): what spans, logs, events and next hops see. Empty for anonymous callers, so identity
   * headers nobody vouches for never travel on.
   */
  readonly wechat: WeChatIdentity;
  /** Absolute deadline in epoch milliseconds, or undefined when the caller set none. */
  readonly deadline: number | undefined;
  /** Aborted when the caller cancels, the deadline passes or the server is forced down. */
  readonly signal: AbortSignal;
  /** A request header / metadata value by lower-case name (first value only). */
  header(name: string): string | undefined;
  /**
   * Ends the call now with `reason` (a ConnectError keeps its code): `signal` fires, and a server
   * stream stops at once even while a write waits for a client that is not reading. This is how a
   * handler sheds a slow consumer instead of buffering for it without limit.
   */
  abort(reason: Error): void;
}

const RPC_CONTEXT_KEY = createContextKey('wxmesh.rpc.context');

/** Binds an RpcContext into an OpenTelemetry context so outgoing calls made by the handler can find it. */
export function withRpcContext(ctx: Context, rpc: RpcContext): Context {
  return ctx.setValue(RPC_CONTEXT_KEY, rpc);
}

/**
 * The RpcContext of the call being served by the current async flow, if any.
 *
 * Peer clients use it to forward the WeChat identity and to cap their own deadline by the
 * caller's, so deadlines propagate across hops without handlers passing them by hand.
 */
export function currentRpcContext(ctx: Context = otelContext.active()): RpcContext | undefined {
  return ctx.getValue(RPC_CONTEXT_KEY) as RpcContext | undefined;
}
