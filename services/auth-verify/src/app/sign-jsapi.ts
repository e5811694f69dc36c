import { randomBytes } from 'node:crypto';
import type { SignJsapiRequest } from '@wxmesh/contracts';
import { jsapiSignature } from '@wxmesh/wechat';
import { answeringWeChatFailures } from '../adapters/wechat-gateway.js';
import { configuredAppSecret } from './configured-app.js';
import type { AuthDeps } from './deps.js';

/** SignJsapi: `wx.config` parameters for a page URL, signed with the app's central jsapi_ticket. */
export async function signJsapi(deps: AuthDeps, request: SignJsapiRequest) {
  configuredAppSecret(deps, request.appid);
  const ticket = await answeringWeChatFailures(() => deps.jsapiTickets.get(request.appid));
  const timestamp = Math.floor(deps.now() / 1000);
  const nonceStr = randomBytes(12).toString('base64url');
  const { signature, signedUrl } = jsapiSignature({
    ticket: ticket.value,
    nonceStr,
    timestamp,
    url: request.url,
  });
  return { appid: request.appid, timestamp: BigInt(timestamp), nonceStr, signature, signedUrl };
}
