import { actingFor, type RpcContext } from '@wxmesh/rpc';
import type { AuthDeps } from './deps.js';
import { liveSession, type VerifyAnswer } from './verify-session.js';

/**
 * The live session of a token the body carries, straight from session (never the cache: the
 * callers act on the session's secrets), which must be the calling user's own (another user's is
 * PermissionDenied).
 */
export async function callersSession(
  deps: Pick<AuthDeps, 'session'>,
  token: string,
  ctx: RpcContext,
): Promise<VerifyAnswer> {
  const session = await liveSession(deps.session, token, false, ctx.signal);
  actingFor(ctx, session.openid, 'session_token');
  return session;
}
