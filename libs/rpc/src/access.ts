import { getOption, hasOption, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { context, trace } from '@opentelemetry/api';
import { access as accessOption, Audience } from '@wxmesh/contracts';
import { wechatSpanAttributes, withWeChatBaggage } from '@wxmesh/telemetry';
import {
  callerIdentity,
  describeCaller,
  OPERATOR_PEER,
  resolveCaller,
  type Caller,
  type CallerPolicy,
} from './caller.js';
import type { RpcContext } from './context.js';
import type { Interceptor, Invocation } from './pipeline.js';

/** Who may call one RPC, as its proto declares (`option (wxmesh.common.v1.access)`). */
export interface MethodAccess {
  /** `package.Service/Method`, as refusals name it. */
  readonly rpc: string;
  readonly public: boolean;
  readonly edge: boolean;
  readonly operator: boolean;
  /** Mesh peers allowed by AUDIENCE_INTERNAL; `*` is every peer. */
  readonly peers: ReadonlySet<string>;
}

/**
 * The access an RPC declares. Throws for an RPC that declares none (or no real audience): the kit
 * refuses to serve it rather than guess, so a new RPC without an audience fails at start-up and in
 * the contracts tests, never silently open.
 */
export function methodAccess(method: DescMethod): MethodAccess {
  const rpc = `${method.parent.typeName}.${method.name}`;
  if (!hasOption(method, accessOption)) {
    throw new Error(`${rpc} declares no audience: add option (wxmesh.common.v1.access) to its proto`);
  }
  const declared = getOption(method, accessOption);
  const audiences = new Set(declared.audiences);
  audiences.delete(Audience.UNSPECIFIED);
  if (audiences.size === 0) throw new Error(`${rpc} declares no audience in (wxmesh.common.v1.access)`);
  const internal = audiences.has(Audience.INTERNAL);
  if (internal !== declared.peers.length > 0) {
    throw new Error(`${rpc}: AUDIENCE_INTERNAL and peers must be declared together`);
  }
  return {
    rpc: `${method.parent.typeName}/${method.name}`,
    public: audiences.has(Audience.PUBLIC),
    edge: audiences.has(Audience.EDGE),
    operator: audiences.has(Audience.OPERATOR),
    peers: new Set(declared.peers),
  };
}

/** True when the RPC is served on the north-south (http) port at all. */
export function servedAtEdge(access: MethodAccess): boolean {
  return access.public || access.edge;
}

/**
 * Why `caller` may not make this call on this port, as the error the caller gets; undefined
 * when it may. (On the http port the kit does not even route RPCs that are not served there,
 * so those answer NotFound exactly like unknown methods.)
 */
export function refusal(access: MethodAccess, caller: Caller, edgePort: boolean): ConnectError | undefined {
  if (access.public) return undefined;
  const { rpc } = access;
  if (edgePort) {
    if (access.edge && caller.kind === 'user') return undefined;
    return new ConnectError(
      `${rpc} acts for a signed-in user: call it through the cloud gateway or with Authorization: Bearer <session token>`,
      Code.Unauthenticated,
    );
  }
  if (caller.kind !== 'peer') {
    return new ConnectError(
      `${rpc} is served to mesh peers only; this call names no peer`,
      Code.Unauthenticated,
    );
  }
  if (access.peers.has('*') || access.peers.has(caller.peer)) return undefined;
  if (access.operator && caller.peer === OPERATOR_PEER) return undefined;
  const allowed = [...access.peers, ...(access.operator ? [OPERATOR_PEER] : [])];
  return new ConnectError(
    `${rpc} is not served to ${describeCaller(caller)}` +
      (allowed.length > 0
        ? ` (only to ${allowed.join(', ')})`
        : access.edge
          ? ' (an edge RPC: users only)'
          : ''),
    Code.PermissionDenied,
  );
}

/** Kit-internal: the one place a call's caller is set, once, before its handler runs. */
function bindCaller(ctx: RpcContext, caller: Caller): void {
  (ctx as { caller: Caller }).caller = caller;
}

/**
 * Resolves who is calling (once per call, {@link resolveCaller}), enforces the RPC's declared
 * audience on this port, and from then on carries the caller's WeChat identity: in `ctx.caller`
 * and `ctx.wechat`, on the server span, and in the baggage that logs, Kafka records and peer
 * calls read. Runs right inside the observing step, so a refusal is traced and counted.
 */
export function accessInterceptor(
  policy: CallerPolicy,
  accessOf: (method: DescMethod) => MethodAccess,
): Interceptor {
  const apply = (
    next: (inv: Invocation) => ReturnType<ReturnType<Interceptor>>,
    inv: Invocation,
    caller: Caller,
  ) => {
    const { ctx, method } = inv;
    const refused = refusal(accessOf(method), caller, ctx.protocol !== 'grpc');
    if (refused !== undefined) return Promise.reject(refused);
    bindCaller(ctx, caller);
    const identity = callerIdentity(caller);
    const active = context.active();
    const span = trace.getSpan(active);
    if (span?.isRecording()) {
      span.setAttributes(wechatSpanAttributes(identity));
      span.setAttribute('wxmesh.caller', caller.kind === 'peer' ? `peer:${caller.peer}` : caller.kind);
    }
    const withIdentity = withWeChatBaggage(active, identity);
    return withIdentity === active ? next(inv) : context.with(withIdentity, next, undefined, inv);
  };
  return (next) => (inv) => {
    let caller: Caller | Promise<Caller>;
    try {
      caller = resolveCaller(inv.ctx, policy);
    } catch (err) {
      return Promise.reject(err);
    }
    return caller instanceof Promise ? caller.then((c) => apply(next, inv, c)) : apply(next, inv, caller);
  };
}
