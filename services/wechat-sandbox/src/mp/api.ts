import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { WxError, type ErrorReply } from './domain/errors.js';
import type { MpStore } from './store.js';
import { wechatJsonBody } from './wechat-body.js';

/** The named query parameters of a request, each undefined when absent. */
function queryOf<K extends string>(req: SandboxRequest, ...names: K[]): { [P in K]?: string } {
  return Object.fromEntries(names.map((name) => [name, req.query.get(name) ?? undefined])) as {
    [P in K]?: string;
  };
}

/** One WeChat API call: the use case's answer for the request (throws WxError to refuse). */
type ApiCall = (store: MpStore, req: SandboxRequest) => unknown;

const codeToSession: ApiCall = (store, req) =>
  store.codeToSession(queryOf(req, 'appid', 'secret', 'js_code', 'grant_type'));

const accessToken: ApiCall = (store, req) => store.accessToken(queryOf(req, 'appid', 'secret', 'grant_type'));

const stableToken: ApiCall = (store, req) => store.stableToken(wechatJsonBody(req));

/** The body is read only once the token passed, so a bad token wins over a bad body. */
const phoneNumber: ApiCall = (store, req) =>
  store.phoneNumber(queryOf(req, 'access_token').access_token, () => {
    const { code } = wechatJsonBody(req);
    return typeof code === 'string' ? code : undefined;
  });

const jsapiTicket: ApiCall = (store, req) => {
  const q = queryOf(req, 'access_token', 'type');
  return store.jsapiTicket(q.access_token, q.type);
};

const oauthAccessToken: ApiCall = (store, req) =>
  store.oauthAccessToken(queryOf(req, 'appid', 'secret', 'code', 'grant_type'));

const oauthRefresh: ApiCall = (store, req) =>
  store.oauthRefresh(queryOf(req, 'appid', 'grant_type', 'refresh_token'));

const checkSession: ApiCall = (store, req) =>
  store.checkSession(queryOf(req, 'access_token', 'openid', 'signature', 'sig_method'));

/**
 * The WeChat mini-program / official-account API paths, answering as WeChat does: HTTP 200 with
 * the documented success body, or `{errcode, errmsg}`. POST-only APIs answer GET with 43002.
 */
export function createMpApiEndpoints(store: MpStore, reply: ErrorReply): Endpoint[] {
  const api = (method: Endpoint['method'], path: string, call: ApiCall): Endpoint => ({
    method,
    path,
    handler: (req): SandboxResponse => {
      try {
        return { body: call(store, req) };
      } catch (error) {
        if (error instanceof WxError) return reply(error.errcode, error.detail);
        throw error;
      }
    },
  });
  const postOnly = (path: string): Endpoint => ({ method: 'GET', path, handler: () => reply(43002) });
  return [
    api('GET', '/sns/jscode2session', codeToSession),
    api('GET', '/cgi-bin/token', accessToken),
    api('POST', '/cgi-bin/stable_token', stableToken),
    postOnly('/cgi-bin/stable_token'),
    api('POST', '/wxa/business/getuserphonenumber', phoneNumber),
    postOnly('/wxa/business/getuserphonenumber'),
    api('GET', '/cgi-bin/ticket/getticket', jsapiTicket),
    api('GET', '/sns/oauth2/access_token', oauthAccessToken),
    api('GET', '/sns/oauth2/refresh_token', oauthRefresh),
    api('GET', '/wxa/checksession', checkSession),
  ];
}
