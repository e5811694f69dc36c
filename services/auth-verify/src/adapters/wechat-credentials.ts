import { getJsapiTicket, getStableAccessToken } from '@wxmesh/wechat';
import { expiresAtOf, type CentralCredential } from '../domain/central-credential.js';
import type { WeChatGateway } from './wechat-gateway.js';

/** Where the central credentials come from at WeChat; each call goes through the gateway's breaker. */
export interface WeChatCredentialSource {
  /** A new access_token from `stable_token` (`force`: a new one even while the current one lives). */
  accessToken(appid: string, force: boolean): Promise<CentralCredential>;
  /** A new jsapi_ticket from `getticket`, for the app's current `accessToken`. */
  jsapiTicket(accessToken: string): Promise<CentralCredential>;
}

/**
 * The central credentials' WeChat calls. They are shared work (one refresh serves every caller and
 * replica), so they take no caller's signal and are bounded by the gateway's timeout alone.
 */
export function createWeChatCredentialSource(deps: {
  wechat: WeChatGateway;
  appSecret: (appid: string) => string | undefined;
  now: () => number;
}): WeChatCredentialSource {
  const { wechat, now } = deps;
  return {
    async accessToken(appid, force) {
      const appSecret = deps.appSecret(appid);
      const issued = await wechat.call((api, signal) =>
        getStableAccessToken(api, { appid, appSecret, forceRefresh: force }, signal),
      );
      return { value: issued.value, expiresAt: expiresAtOf(issued, now()) };
    },
    async jsapiTicket(accessToken) {
      const issued = await wechat.call((api, signal) => getJsapiTicket(api, { accessToken }, signal));
      return { value: issued.value, expiresAt: expiresAtOf(issued, now()) };
    },
  };
}
