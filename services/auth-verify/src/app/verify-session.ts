import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { SessionService } from '@wxmesh/contracts';
import type { PeerClient, SessionTokenVerifier, VerifiedSession } from '@wxmesh/rpc';
import type { VerifyCache, VerifyCacheMetrics } from '@wxmesh/session-tokens';

/** A VerifySession answer, as cached. */
export interface VerifyAnswer {
  readonly sessionId: string;
  readonly appid: string;
  readonly openid: string;
  readonly unionid: string;
  readonly expiresAt: Timestamp | undefined;
}

/** The session RPCs that resolve a token. */
export type SessionLookup = PeerClient<typeof SessionService, 'getSession' | 'touchSession'>;

/** VerifySession's cache of successful answers and what it reports. */
export interface VerifyCacheParts {
  readonly cache: VerifyCache<VerifyAnswer>;
  readonly metrics: VerifyCacheMetrics;
}

/**
 * Resolves a session token to its live session: from the warm cache when it serves, else from
 * session (which `touch` always reaches, since it slides the expiry there). Unauthenticated for
 * a token session does not know (unknown, expired, revoked).
 */
export type SessionVerifier = (token: string, touch: boolean, signal?: AbortSignal) => Promise<VerifyAnswer>;

const UNKNOWN_SESSION = 'session token is unknown, expired or revoked; log in again';

/**
 * A token's live session straight from session, never from the cache (slid when `touch`);
 * Unauthenticated when session does not know it. DecryptUserData and GetPhoneNumber use it
 * directly: they act on the session's secrets and are not hot.
 */
export async function liveSession(
  session: SessionLookup,
  token: string,
  touch: boolean,
  signal?: AbortSignal,
): Promise<VerifyAnswer> {
  try {
    const answer = touch
      ? await session.touchSession({ sessionToken: token }, { signal })
      : await session.getSession({ sessionToken: token }, { signal });
    return answerOf(answer.session!);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.NotFound)
      throw new ConnectError(UNKNOWN_SESSION, Code.Unauthenticated);
    throw err;
  }
}

/**
 * VerifySession's logic, shared by its handler and by the kit's Bearer check at this service's
 * own edge (so a session token is verified in-process, against the same warm cache, with no
 * network hop). A cache hit is a hash and a map lookup; a miss takes a ticket before asking
 * session so that a revocation racing it cannot be cached. Without `cache` (`VERIFY_CACHE_TTL=0`)
 * every call asks session.
 */
export function createSessionVerifier(deps: {
  session: SessionLookup;
  cache?: VerifyCacheParts;
}): SessionVerifier {
  const { session } = deps;
  if (deps.cache === undefined) return (token, touch, signal) => liveSession(session, token, touch, signal);
  const { cache, metrics } = deps.cache;

  return async (token, touch, signal) => {
    if (!cache.serving()) {
      if (!touch) metrics.lookup('bypass');
      return liveSession(session, token, touch, signal);
    }
    const key = cache.keyOf(token);
    if (!touch) {
      const hit = cache.get(key);
      metrics.lookup(hit === undefined ? 'miss' : 'hit');
      if (hit !== undefined) return hit;
    }
    const ticket = cache.begin();
    const answer = await liveSession(session, token, touch, signal);
    if (answer.expiresAt !== undefined) cache.store(ticket, key, answer, timestampMs(answer.expiresAt));
    return answer;
  };
}

/**
 * The kit's `verifySessionToken` over {@link SessionVerifier}: a token with no live session is
 * undefined (the kit answers Unauthenticated); any other failure (session unreachable) keeps its
 * code, so an outage is not mistaken for a sign-in prompt. Never touches: a Bearer check must not
 * write at session on every call.
 */
export function edgeTokenVerifier(verify: SessionVerifier): SessionTokenVerifier {
  return (token, signal) => verify(token, false, signal).then(verifiedSession, noLiveSession);
}

function verifiedSession({ expiresAt, ...identity }: VerifyAnswer): VerifiedSession {
  return expiresAt === undefined ? identity : { ...identity, expiresAt: timestampMs(expiresAt) };
}

function noLiveSession(err: unknown): undefined {
  if (err instanceof ConnectError && (err.code === Code.Unauthenticated || err.code === Code.NotFound))
    return undefined;
  throw err;
}

function answerOf(s: {
  sessionId: string;
  appid: string;
  openid: string;
  unionid: string;
  expiresAt?: Timestamp;
}): VerifyAnswer {
  return {
    sessionId: s.sessionId,
    appid: s.appid,
    openid: s.openid,
    unionid: s.unionid,
    expiresAt: s.expiresAt,
  };
}
