import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { DeliverStatus, PresenceStatus, RevokeReason, SessionService } from '@wxmesh/contracts';
import { actingFor, defineService, type RpcContext } from '@wxmesh/rpc';
import type { UserPresence } from './adapters/presence-store.js';
import type { EndReason } from './domain/session-record.js';
import type { Replica } from './live/replica.js';
import type { SessionManager, SessionView } from './session-manager.js';

const REVOKE_REASONS: Partial<Record<RevokeReason, EndReason>> = {
  [RevokeReason.LOGOUT]: 'logout',
  [RevokeReason.REVOCATION]: 'revocation',
};

const UNKNOWN_CHANNEL_TOKEN = 'session_token is unknown, expired or revoked; log in again';

function toSession({ openid, sessionId, record }: SessionView) {
  return {
    sessionId,
    appid: record.a,
    openid,
    unionid: record.u,
    createdAt: timestampFromMs(record.c),
    lastActiveAt: timestampFromMs(record.l),
    expiresAt: timestampFromMs(record.e),
    maxExpiresAt: timestampFromMs(record.m),
    attributes: record.at,
  };
}

function toPresence(user: UserPresence) {
  return {
    openid: user.openid,
    status: user.channelCount > 0 ? PresenceStatus.ONLINE : PresenceStatus.OFFLINE,
    replicaIds: [...user.replicas.keys()].sort(),
    channelCount: user.channelCount,
    lastSeenAt: user.lastSeenAt === undefined ? undefined : timestampFromMs(user.lastSeenAt),
  };
}

/**
 * The session handlers, bound to the generated `SessionService` descriptor and mounted by the
 * kit on both ports. Before a handler runs the kit has checked the request's shape (the
 * contract's protovalidate rules) and that its caller is in the RPC's declared audience; the
 * handlers then act only for the user the caller may act for (`actingFor`): a user at the edge
 * for themselves, the operator for the user it names. CreateSession, GetSession, TouchSession,
 * GetPresence(Batch) and Deliver are mesh-internal and name their user on the peer's authority.
 */
export function createSessionService(deps: {
  sessions: SessionManager;
  replica: Replica;
  now: () => number;
}) {
  const { sessions, replica, now } = deps;

  /**
   * Ends the session a token names, once the caller may act for its user. An unknown or ended
   * token answers false whoever sends it, so a refusal tells nothing a live token would not.
   */
  async function revokeByToken(ctx: RpcContext, token: string, reason: EndReason): Promise<boolean> {
    const session = await sessions.find(token);
    if (session === undefined) return false;
    actingFor(ctx, session.openid, 'session_token');
    return sessions.revokeByToken(token, reason);
  }

  /** The live session a channel is opened for, as long as it is the caller's own. */
  async function channelSession(ctx: RpcContext, token: string): Promise<SessionView> {
    const session = await sessions.find(token);
    if (session === undefined) throw new ConnectError(UNKNOWN_CHANNEL_TOKEN, Code.Unauthenticated);
    actingFor(ctx, session.openid, 'session_token');
    return session;
  }

  return defineService(SessionService, {
    async createSession(request) {
      const created = await sessions.create(request);
      return {
        session: toSession(created.session),
        sessionToken: created.token,
        evictedSessionIds: created.evicted,
      };
    },

    async getSession(request) {
      return { session: toSession(await sessions.resolve(request.sessionToken)) };
    },

    async touchSession(request) {
      return { session: toSession(await sessions.touch(request.sessionToken)) };
    },

    async revokeSession(request, ctx) {
      const reason = REVOKE_REASONS[request.reason]!;
      const { target } = request;
      if (target.case === 'sessionToken') return { revoked: await revokeByToken(ctx, target.value, reason) };
      if (target.case === 'session') {
        const openid = actingFor(ctx, target.value.openid, 'session.openid');
        return { revoked: await sessions.revokeById(openid, target.value.sessionId, reason) };
      }
      throw new ConnectError('target: name the session by session_token or by session', Code.InvalidArgument);
    },

    async listSessions(request, ctx) {
      const openid = actingFor(ctx, request.openid, 'openid');
      return { sessions: (await sessions.list(openid)).map(toSession) };
    },

    async getPresence(request) {
      const [user] = await replica.read([request.openid]);
      return { presence: toPresence(user!) };
    },

    async getPresenceBatch(request) {
      return { presences: (await replica.read(request.openids)).map(toPresence) };
    },

    async *attach(request, ctx) {
      const session = await channelSession(ctx, request.sessionToken);
      yield* replica.attach(session, ctx.signal, (reason) => ctx.abort(reason));
    },

    async deliver(request, ctx) {
      const result = await replica.deliver(
        request.openid,
        { deliveryId: request.deliveryId, kind: request.kind, payload: request.payload, sentAt: now() },
        ctx.deadline,
      );
      return {
        status: !result.online
          ? DeliverStatus.OFFLINE
          : result.written > 0
            ? DeliverStatus.DELIVERED
            : DeliverStatus.FAILED,
        deliveredChannels: result.written,
      };
    },
  });
}
