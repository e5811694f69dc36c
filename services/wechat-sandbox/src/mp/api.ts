import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { jsonBody } from '../http.js';
import type { ErrorReply } from './errors.js';
import { WxError, type MpStore } from './store.js';

/** A WeChat API's JSON body; an empty one throws 44002 and an unparsable one 47001, as WeChat answers. */
export function wechatJsonBody(req: SandboxRequest): Record<string, unknown> {
  if (req.body.length === 0) throw new WxError(44002);
  const parsed = jsonBody(req);
  if (parsed === undefined) throw new WxError(47001);
  return parsed;
}

/**
 * The WeChat mini-program / official-account API paths, answering as WeChat does: HTTP 200 with
 * the documented success body, or `{errcode, errmsg}`.
 */
export function createMpApiEndpoints(store: MpStore, reply: ErrorReply): Endpoint[] {
  const answer =
    (run: (req: SandboxRequest) => unknown) =>
    (req: SandboxRequest): SandboxResponse => {
      try {
        return { body: run(req) };
      } catch (error) {
        if (error instanceof WxError) return reply(error.errcode, error.detail);
        throw error;
      }
    };
  const q = (req: SandboxRequest, name: string) => req.query.get(name) ?? undefined;
  /** POST-only APIs refuse other methods with 43002, as WeChat does. */
  const postOnly = (path: string): Endpoint => ({ method: 'GET', path, handler: () => reply(43002) });
  const body = wechatJsonBody;

  return [
    {
      method: 'GET',
      path: '/sns/jscode2session',
      handler: answer((req) =>
        store.codeToSession({
          appid: q(req, 'appid'),
          secret: q(req, 'secret'),
          js_code: q(req, 'js_code'),
          grant_type: q(req, 'grant_type'),
        }),
      ),
    },
    {
      method: 'GET',
      path: '/cgi-bin/token',
      handler: answer((req) =>
        store.accessToken({
          appid: q(req, 'appid'),
          secret: q(req, 'secret'),
          grant_type: q(req, 'grant_type'),
        }),
      ),
    },
    {
      method: 'POST',
      path: '/cgi-bin/stable_token',
      handler: answer((req) => store.stableToken(body(req))),
    },
    postOnly('/cgi-bin/stable_token'),
    {
      method: 'POST',
      path: '/wxa/business/getuserphonenumber',
      handler: answer((req) =>
        store.phoneNumber(q(req, 'access_token'), () => {
          const { code } = body(req);
          return typeof code === 'string' ? code : undefined;
        }),
      ),
    },
    postOnly('/wxa/business/getuserphonenumber'),
    {
      method: 'GET',
      path: '/cgi-bin/ticket/getticket',
      handler: answer((req) => store.jsapiTicket(q(req, 'access_token'), q(req, 'type'))),
    },
    {
      method: 'GET',
      path: '/sns/oauth2/access_token',
      handler: answer((req) =>
        store.oauthAccessToken({
          appid: q(req, 'appid'),
          secret: q(req, 'secret'),
          code: q(req, 'code'),
          grant_type: q(req, 'grant_type'),
        }),
      ),
    },
    {
      method: 'GET',
      path: '/sns/oauth2/refresh_token',
      handler: answer((req) =>
        store.oauthRefresh({
          appid: q(req, 'appid'),
          grant_type: q(req, 'grant_type'),
          refresh_token: q(req, 'refresh_token'),
        }),
      ),
    },
    {
      method: 'GET',
      path: '/wxa/checksession',
      handler: answer((req) =>
        store.checkSession({
          access_token: q(req, 'access_token'),
          openid: q(req, 'openid'),
          signature: q(req, 'signature'),
          sig_method: q(req, 'sig_method'),
        }),
      ),
    },
  ];
}
