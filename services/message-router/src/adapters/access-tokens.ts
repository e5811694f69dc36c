import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { AuthVerifyService } from '@wxmesh/contracts';
import type { PeerClient } from '@wxmesh/rpc';

/** The auth-verify calls the router makes for access tokens. */
export type TokenPeer = PeerClient<typeof AuthVerifyService, 'getAccessToken' | 'invalidateAccessToken'>;

/** An app's access_token as the sender uses it. */
export interface AccessToken {
  readonly appid: string;
  readonly value: string;
}

/**
 * The central access_token, fetched from auth-verify (which owns it) and kept in this process
 * until shortly before it expires or WeChat rejects it, so a send costs no extra round trip.
 * Concurrent callers share one fetch. `invalidate` reports a token WeChat rejected: auth-verify
 * refreshes only if it is still the current one, so many workers reporting one dead token cause
 * one refresh; every one of them gets the token to retry with.
 */
export function createAccessTokens(
  peer: TokenPeer,
  options: { now: () => number; refreshBeforeMs?: number },
) {
  const refreshBeforeMs = options.refreshBeforeMs ?? 60_000;
  const cache = new Map<string, { value: string; expiresAt: number }>();
  const inflight = new Map<string, Promise<AccessToken>>();

  function remember(appid: string, value: string, expiresAt: number): AccessToken {
    cache.set(appid, { value, expiresAt });
    return { appid, value };
  }

  async function fetchToken(appid: string, signal?: AbortSignal): Promise<AccessToken> {
    const response = await peer.getAccessToken({ appid }, { signal });
    const expiresAt = response.expiresAt ? timestampMs(response.expiresAt) : options.now() + refreshBeforeMs;
    return remember(appid, response.accessToken, expiresAt);
  }

  return {
    /** The app's current token. */
    async current(appid: string, signal?: AbortSignal): Promise<AccessToken> {
      const cached = cache.get(appid);
      if (cached && cached.expiresAt - refreshBeforeMs > options.now()) return { appid, value: cached.value };
      let pending = inflight.get(appid);
      if (!pending) {
        pending = fetchToken(appid, signal).finally(() => inflight.delete(appid));
        inflight.set(appid, pending);
      }
      return pending;
    },

    /** Reports `token` as rejected by WeChat and returns the token to retry with. */
    async invalidate(token: AccessToken, signal?: AbortSignal): Promise<AccessToken> {
      const cached = cache.get(token.appid);
      if (cached && cached.value !== token.value) return { appid: token.appid, value: cached.value };
      const response = await peer.invalidateAccessToken(
        { appid: token.appid, accessToken: token.value },
        { signal },
      );
      const expiresAt = response.expiresAt
        ? timestampMs(response.expiresAt)
        : options.now() + refreshBeforeMs;
      return remember(token.appid, response.accessToken, expiresAt);
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
