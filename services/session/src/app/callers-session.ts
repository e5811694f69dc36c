import { Code, ConnectError } from '@connectrpc/connect';
import { actingFor, type RpcContext } from '@wxmesh/rpc';
import type { EndReason, SessionView } from '../domain/session-record.js';
import type { Sessions } from './sessions.js';

const UNKNOWN_CHANNEL_TOKEN = 'session_token is unknown, expired or revoked; log in again';

/**
 * Ends the session a token names, once the caller may act for its user. An unknown or ended
 * token answers false whoever sends it, so a refusal tells nothing a live token would not.
 */
export async function revokeOwnSession(
  sessions: Pick<Sessions, 'find' | 'revokeByToken'>,
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
 * Ends a session named by user and id: a user at the edge ends only their own (another device of
 * theirs), the operator anyone's. False when it was not live.
 */
export async function revokeNamedSession(
  sessions: Pick<Sessions, 'revokeById'>,
  ctx: Pick<RpcContext, 'caller' | 'signal'>,
  ref: { openid: string; sessionId: string },
  reason: EndReason,
): Promise<boolean> {
  const openid = actingFor(ctx, ref.openid, 'session.openid');
  return sessions.revokeById(openid, ref.sessionId, reason, ctx.signal);
}

/**
 * The live session a channel is opened for, as long as it is the caller's own. Unauthenticated
 * (spelled `session_token`, unlike the kit's Bearer refusal) for a token with no live session.
 */
export async function channelSession(
  sessions: Pick<Sessions, 'find'>,
  ctx: Pick<RpcContext, 'caller'>,
  token: string,
): Promise<SessionView> {
  const session = await sessions.find(token);
  if (session === undefined) throw new ConnectError(UNKNOWN_CHANNEL_TOKEN, Code.Unauthenticated);
  actingFor(ctx, session.openid, 'session_token');
  return session;
}
