import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { DeliverStatus, PresenceStatus, RevokeReason, SessionService } from '@wxmesh/contracts';
import { actingFor, defineService } from '@wxmesh/rpc';
import type { UserPresence } from './domain/presence.js';
import { channelSession, revokeNamedSession, revokeOwnSession } from './app/callers-session.js';
import type { Replica } from './app/replica.js';
import type { Sessions } from './app/sessions.js';
import type { EndReason, SessionView } from './domain/session-record.js';

const REVOKE_REASONS: Partial<Record<RevokeReason, EndReason>> = {
  [RevokeReason.LOGOUT]: 'logout',
  [RevokeReason.REVOCATION]: 'revocation',
};

function toSession({ openid, sessionId, record }: SessionView) {
  return {
    sessionId,
    appid: record.appid,
    openid,
    unionid: record.unionid,
    createdAt: timestampFromMs(record.createdAt),
    lastActiveAt: timestampFromMs(record.lastActiveAt),
    expiresAt: timestampFromMs(record.expiresAt),
    maxExpiresAt: timestampFromMs(record.maxExpiresAt),
    attributes: record.attributes,
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
export function createSessionService(deps: { sessions: Sessions; replica: Replica; now: () => number }) {
  const { sessions, replica, now } = deps;

  return defineService(SessionService, {
    async createSession(request, ctx) {
      const created = await sessions.create(request, ctx.signal);
      return {
        session: toSession(created.session),
        sessionToken: created.token,
        evictedSessionIds: created.evicted,
      };
    },

    async getSession(request) {
      return { session: toSession(await sessions.resolve(request.sessionToken)) };
    },

    async touchSession(request, ctx) {
      return { session: toSession(await sessions.touch(request.sessionToken, ctx.signal)) };
    },

    async revokeSession(request, ctx) {
      const reason = REVOKE_REASONS[request.reason]!;
      const { target } = request;
      if (target.case === 'sessionToken')
        return { revoked: await revokeOwnSession(sessions, ctx, target.value, reason) };
      if (target.case === 'session')
        return { revoked: await revokeNamedSession(sessions, ctx, target.value, reason) };
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
      const session = await channelSession(sessions, ctx, request.sessionToken);
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
