import { Code, ConnectError } from '@connectrpc/connect';
import { actingFor, type RpcContext } from '@wxmesh/rpc';
import type { EndReason } from '../domain/session-record.js';
import type { SessionManager, SessionView } from '../session-manager.js';

const UNKNOWN_CHANNEL_TOKEN = 'session_token is unknown, expired or revoked; log in again';

/**
 * Ends the session a token names, once the caller may act for its user. An unknown or ended
 * token answers false whoever sends it, so a refusal tells nothing a live token would not.
 */
export async function revokeOwnSession(
  sessions: SessionManager,
  ctx: Pick<RpcContext, 'caller' | 'signal'>,
  token: string,
  reason: EndReason,
): Promise<boolean> {
  const session = await sessions.find(token);
  if (session === undefined) return false;
  actingFor(ctx, session.openid, 'session_token');
  return sessions.revokeByToken(token, reason, ctx.signal);
}

/**
 * The live session a channel is opened for, as long as it is the caller's own. Unauthenticated
 * (spelled `session_token`, unlike the kit's Bearer refusal) for a token with no live session.
 */
export async function channelSession(
  sessions: SessionManager,
  ctx: Pick<RpcContext, 'caller'>,
  token: string,
): Promise<SessionView> {
  const session = await sessions.find(token);
  if (session === undefined) throw new ConnectError(UNKNOWN_CHANNEL_TOKEN, Code.Unauthenticated);
  actingFor(ctx, session.openid, 'session_token');
  return session;
}
