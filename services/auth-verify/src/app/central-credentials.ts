import type { RedisClient } from '@wxmesh/redis';
import { createCentralToken, type CentralTokens } from '../adapters/central-token.js';
import type { SealBox } from '../adapters/secrets.js';
import type { WeChatCredentialSource } from '../adapters/wechat-credentials.js';

/** The app's central access_token and jsapi_ticket, shared by every replica. */
export interface CentralCredentials {
  readonly accessTokens: CentralTokens;
  readonly jsapiTickets: CentralTokens;
}

/**
 * The central credentials over Redis: the access_token from `stable_token`, the jsapi_ticket from
 * `getticket` with the current access_token. Both are refreshed `refreshBeforeMs` before they
 * expire; a background refresh that fails goes to `onBackgroundError` (callers keep the old one).
 */
export function createCentralCredentials(deps: {
  redis: RedisClient;
  box: SealBox;
  source: WeChatCredentialSource;
  now: () => number;
  refreshBeforeMs: number;
  onBackgroundError: (err: unknown) => void;
}): CentralCredentials {
  const { source, ...shared } = deps;
  const accessTokens = createCentralToken({
    ...shared,
    kind: 'access_token',
    fetch: (appid, force) => source.accessToken(appid, force),
  });
  const jsapiTickets = createCentralToken({
    ...shared,
    kind: 'jsapi_ticket',
    fetch: async (appid) => source.jsapiTicket((await accessTokens.get(appid)).value),
  });
  return { accessTokens, jsapiTickets };
}

/**
 * Renews the configured apps' access_tokens before they expire even when nobody asks: every
 * `intervalMs`, each app's token is read, which refreshes it in its last stretch. Returns the stop.
 * The timer does not keep the process alive.
 */
export function startProactiveRefresh(deps: {
  appids: () => string[];
  accessTokens: CentralTokens;
  intervalMs: number;
  onError: (err: unknown) => void;
}): () => void {
  const timer = setInterval(() => {
    for (const appid of deps.appids()) deps.accessTokens.get(appid).catch(deps.onError);
  }, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
