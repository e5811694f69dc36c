import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { wechatFromHeaders, type WeChatIdentity } from '@wxmesh/telemetry';
import type { RpcContext } from './context.js';

/** A WeChat identity that names its user. */
export type UserIdentity = WeChatIdentity & { readonly openid: string };

/** Nobody vouches for this call: it may reach only PUBLIC RPCs. */
export interface AnonymousCaller {
  readonly kind: 'anonymous';
}

/**
 * A mini-program user at the edge, vouched for by the cloud gateway (`X-WX-*` on a port behind
 * it) or by a session token from Login (`Authorization: Bearer`, verified by auth-verify).
 */
export interface UserCaller {
  readonly kind: 'user';
  readonly via: 'gateway' | 'session';
  readonly identity: UserIdentity;
  /** The verified session, when the user came with a session token. */
  readonly sessionId?: string;
}

/**
 * A mesh peer on the east-west port (its mTLS identity in the mesh, a declared name locally),
 * acting for the end user in the propagated `x-wx-*` metadata (empty for system work).
 */
export interface PeerCaller {
  readonly kind: 'peer';
  /** The peer's service account name in the mesh namespace, e.g. `auth-verify` or `operator`. */
  readonly peer: string;
  readonly identity: WeChatIdentity;
}

/** Who is calling: resolved once per call by the kit, read by handlers as `ctx.caller`. */
export type Caller = AnonymousCaller | UserCaller | PeerCaller;

/** The mesh peer name of admin tools (the OPERATOR audience). */
export const OPERATOR_PEER = 'operator';

/** The metadata a peer client declares its name in, where peers are known by declaration. */
export const PEER_HEADER = 'x-wxmesh-peer';

export const ANONYMOUS: AnonymousCaller = Object.freeze({ kind: 'anonymous' });
const NO_IDENTITY: WeChatIdentity = Object.freeze({});

/** The WeChat identity a call carries on for its caller: what spans, logs, events and next hops see. */
export function callerIdentity(caller: Caller): WeChatIdentity {
  return caller.kind === 'anonymous' ? NO_IDENTITY : caller.identity;
}

/** True when the caller is the admin tools' mesh identity. */
export function isOperator(caller: Caller): boolean {
  return caller.kind === 'peer' && caller.peer === OPERATOR_PEER;
}

/** A short, secret-free description of the caller for error messages and span attributes. */
export function describeCaller(caller: Caller): string {
  if (caller.kind === 'anonymous') return 'an anonymous caller';
  if (caller.kind === 'user')
    return `a user (via ${caller.via === 'gateway' ? 'the cloud gateway' : 'a session token'})`;
  return `mesh peer ${caller.peer}`;
}

/**
 * The user a call acts for, given the openid its body names in `field` (empty when it names none).
 *
 * - A user caller acts only for themselves: an empty field means them; another openid is
 *   PermissionDenied, and says so.
 * - A mesh peer or operator names the user in the body (falling back to the user it acts for);
 *   with neither, InvalidArgument.
 * - An anonymous caller is Unauthenticated (the kit lets one through only to PUBLIC RPCs).
 *
 * Use it for every body field that says *whose* data a call reads or changes, and for the owner
 * of a credential the body carries (a session token's user).
 */
export function actingFor(ctx: Pick<RpcContext, 'caller'>, named: string, field: string): string {
  const { caller } = ctx;
  if (caller.kind === 'user') {
    if (named === '' || named === caller.identity.openid) return caller.identity.openid;
    throw new ConnectError(
      `${field} names another user than the caller; a mini-program user may act only for themselves`,
      Code.PermissionDenied,
    );
  }
  if (caller.kind === 'peer') {
    const openid = named || caller.identity.openid;
    if (openid) return openid;
    throw new ConnectError(`${field}: name the user this call is for`, Code.InvalidArgument);
  }
  throw new ConnectError(
    'this call acts for a user: sign in (Authorization: Bearer <session token>) or call through the cloud gateway',
    Code.Unauthenticated,
  );
}

/** How the kit knows callers on each port; from the service's configuration. */
export interface CallerPolicy {
  /**
   * The http port sits behind the WeChat cloud gateway, the only party able to set `X-WX-*`.
   * Off, a call sending them there is refused (Unauthenticated), never believed.
   */
  readonly behindGateway: boolean;
  /**
   * `mtls`: a peer is the SPIFFE id its sidecar reports in `x-forwarded-client-cert` (in the mesh).
   * `declared`: a peer is the name its client sends in `x-wxmesh-peer` (local runs and tests).
   */
  readonly peerIdentity: 'mtls' | 'declared';
  /** Peers' service accounts in this namespace are known by their plain name. */
  readonly namespace?: string;
  /** Resolves `Authorization: Bearer` tokens; without it the http port refuses them. */
  readonly verifySessionToken?: SessionTokenVerifier;
}

/** A verified session token's session. */
export interface VerifiedSession {
  readonly sessionId: string;
  readonly openid: string;
  readonly appid: string;
  readonly unionid: string;
  /**
   * When the session expires (epoch ms) as the verifier knew it, when it says: a cache in front of
   * the verifier keeps the answer no longer than this.
   */
  readonly expiresAt?: number;
}

/**
 * Resolves a session token, or undefined when it is unknown, expired or revoked. Other failures
 * (auth-verify unreachable) reject with their own code, so the caller sees Unavailable, not a
 * sign-in prompt.
 */
export type SessionTokenVerifier = (
  token: string,
  signal: AbortSignal,
) => Promise<VerifiedSession | undefined>;

const PEER_NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;
const BEARER = /^Bearer ([0-9A-Za-z._~-]{1,512})$/;
const SPIFFE = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** The peer a call on the grpc port comes from, or undefined when it names none. */
function peerName(header: (name: string) => string | undefined, policy: CallerPolicy): string | undefined {
  if (policy.peerIdentity === 'declared') {
    const name = header(PEER_HEADER);
    if (name === undefined) return undefined;
    if (!PEER_NAME.test(name))
      throw new ConnectError(`${PEER_HEADER}: not a service account name`, Code.Unauthenticated);
    return name;
  }
  // Envoy appends one element per hop; the last is what our own sidecar saw in the mTLS handshake.
  const xfcc = header('x-forwarded-client-cert');
  if (xfcc === undefined) return undefined;
  const last = xfcc.split(',').at(-1)!;
  const uri = /(?:^|;)URI=([^;]+)/.exec(last)?.[1];
  const match = uri === undefined ? null : SPIFFE.exec(uri);
  if (match === null) return undefined;
  const [, namespace, account] = match;
  return namespace === (policy.namespace ?? 'wxmesh') ? account : `${namespace}/${account}`;
}

function hasGatewayIdentity(identity: WeChatIdentity): boolean {
  for (const key in identity) if (identity[key as keyof WeChatIdentity] !== undefined) return true;
  return false;
}

/**
 * Who is calling, from exactly one source: on the grpc port the mesh peer (with the user it acts
 * for), on the http port the cloud gateway's `X-WX-*` or a session token. Returns a promise only
 * for a session token, which needs a lookup; throws Unauthenticated for a credential that must not
 * be believed (gateway headers where no gateway is, both sources at once, a malformed token).
 */
export function resolveCaller(
  ctx: Pick<RpcContext, 'protocol' | 'header' | 'signal'>,
  policy: CallerPolicy,
): Caller | Promise<Caller> {
  const header = (name: string) => ctx.header(name);
  if (ctx.protocol === 'grpc') {
    const peer = peerName(header, policy);
    return peer === undefined ? ANONYMOUS : { kind: 'peer', peer, identity: wechatFromHeaders(header) };
  }
  const gateway = wechatFromHeaders(header);
  const authorization = ctx.header('authorization');
  const fromGateway = hasGatewayIdentity(gateway);
  if (fromGateway && authorization !== undefined) {
    throw new ConnectError(
      'send either the cloud gateway identity (X-WX-*) or Authorization: Bearer, not both',
      Code.Unauthenticated,
    );
  }
  if (fromGateway) {
    if (!policy.behindGateway) {
      throw new ConnectError(
        'X-WX-* identity headers are not accepted here: this port is not behind the WeChat cloud gateway; ' +
          'sign in with Authorization: Bearer <session token from Login>',
        Code.Unauthenticated,
      );
    }
    return gateway.openid === undefined
      ? ANONYMOUS
      : { kind: 'user', via: 'gateway', identity: gateway as UserIdentity };
  }
  if (authorization === undefined) return ANONYMOUS;
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined) {
    throw new ConnectError('Authorization: expected "Bearer <session token>"', Code.Unauthenticated);
  }
  const verify = policy.verifySessionToken;
  if (verify === undefined) {
    throw new ConnectError('this service does not accept session tokens', Code.Unauthenticated);
  }
  return verify(token, ctx.signal).then((session): Caller => {
    if (session === undefined) {
      throw new ConnectError(
        'session token is unknown, expired or revoked; log in again',
        Code.Unauthenticated,
      );
    }
    const identity: UserIdentity = session.unionid
      ? { openid: session.openid, appid: session.appid, unionid: session.unionid }
      : { openid: session.openid, appid: session.appid };
    return { kind: 'user', via: 'session', identity, sessionId: session.sessionId };
  });
}

/** The part of an auth-verify peer client that {@link sessionVerifierFrom} needs. */
export interface SessionVerifyClient {
  verifySession(
    request: { sessionToken: string },
    options?: { signal?: AbortSignal },
  ): Promise<{ sessionId: string; openid: string; appid: string; unionid: string; expiresAt?: Timestamp }>;
}

/**
 * A session-token verifier that asks auth-verify (VerifySession, answered from its warm cache), with
 * the session's expiry as auth-verify knows it.
 * Unauthenticated and NotFound mean "no such live session"; anything else (auth-verify down,
 * its breaker open) keeps its code, so an outage is Unavailable, not a sign-in prompt.
 */
export function sessionVerifierFrom(client: SessionVerifyClient): SessionTokenVerifier {
  return async (token, signal) => {
    try {
      const { sessionId, openid, appid, unionid, expiresAt } = await client.verifySession(
        { sessionToken: token },
        { signal },
      );
      return expiresAt === undefined
        ? { sessionId, openid, appid, unionid }
        : { sessionId, openid, appid, unionid, expiresAt: timestampMs(expiresAt) };
    } catch (err) {
      if (err instanceof ConnectError && (err.code === Code.Unauthenticated || err.code === Code.NotFound)) {
        return undefined;
      }
      throw err;
    }
  };
}
