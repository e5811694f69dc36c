import { createHash } from 'node:crypto';
import { WxError } from '../domain/errors.js';
import type { MpState } from '../state/index.js';
import { appOfToken } from './authenticate.js';

/** `/cgi-bin/ticket/getticket?type=jsapi`: a new ticket each call; the previous one keeps five minutes. */
export function jsapiTicket(state: MpState, accessToken: string | undefined, type: string | undefined) {
  const appid = appOfToken(state, accessToken, '/cgi-bin/ticket/getticket');
  if (type !== 'jsapi') throw new WxError(40097);
  const app = state.apps.get(appid)!;
  state.tickets.supersede(app.ticket);
  app.ticket = state.tickets.issue(appid);
  state.counters.count(appid, 'jsapiTicketsIssued');
  return { errcode: 0, errmsg: 'ok', ticket: app.ticket, expires_in: state.tickets.expiresIn(app.ticket) };
}

/** What a page signed with the JS-SDK: the page URL (no fragment), nonce, timestamp and signature. */
export interface JsapiSignature {
  readonly appid: string;
  readonly url: string;
  readonly noncestr: string;
  readonly timestamp: string;
  readonly signature: string;
}

/** Whether `signature` is a valid JS-SDK signature for `url` under one of the app's live tickets. */
export function verifyJsapiSignature(state: MpState, p: JsapiSignature): boolean {
  return state.tickets.liveOf(p.appid).some((ticket) => {
    const plain = `jsapi_ticket=${ticket}&noncestr=${p.noncestr}&timestamp=${p.timestamp}&url=${p.url}`;
    return createHash('sha1').update(plain).digest('hex') === p.signature.toLowerCase();
  });
}
