import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxRequest, SandboxResponse } from '../../http.js';
import { wechatJsonBody } from '../wechat-body.js';
import { isErrcode, WxError, type ErrorReply } from '../domain/errors.js';
import { SEND_API } from '../domain/limits.js';
import { checkData, checkOptions } from '../domain/subscribe-message.js';
import type { SentMessage } from '../state/send-log.js';
import type { SubscribeMessages } from '../state/subscribe-messages.js';
import type { SendFault } from '../state/subscriptions.js';
import type { MpStore } from '../store.js';

/** The send request's fields in WeChat's order of checks: 40003, 40037, 47003. */
function checkMessage(
  store: MpStore,
  state: SubscribeMessages,
  appid: string,
  body: Record<string, unknown>,
): Omit<SentMessage, 'msgid' | 'sentAt'> {
  const { touser, template_id } = body;
  if (typeof touser !== 'string' || !store.knowsUser(appid, touser)) throw new WxError(40003);
  const keywords = typeof template_id === 'string' ? state.templates.keywords(appid, template_id) : undefined;
  if (keywords === undefined) throw new WxError(40037);
  const data = checkData(keywords, body.data);
  const { page, miniprogram_state, lang } = checkOptions(body);
  return {
    touser,
    template_id: template_id as string,
    ...(page === undefined ? {} : { page }),
    data,
    miniprogram_state,
    lang,
  };
}

/**
 * Plays a scripted step: its delay, then its answer, or undefined to let the send go on. A client
 * that hangs up during the delay gets nothing sent (no subscription spent): a real server does not
 * finish a request its client abandoned.
 */
async function playFault(
  state: SubscribeMessages,
  appid: string,
  fault: SendFault,
  gone: AbortSignal,
): Promise<SandboxResponse | 'hang' | undefined> {
  if (fault.delayMs) {
    const waited = await sleep(fault.delayMs, true, { signal: gone }).catch(() => false);
    if (!waited) return 'hang';
  }
  if (fault.hang) {
    state.log.faulted(appid, 'hang');
    return 'hang';
  }
  if (fault.status !== undefined) {
    state.log.faulted(appid, { status: fault.status });
    return { status: fault.status, body: '' };
  }
  if (fault.errcode !== undefined) throw new InjectedErrcode(fault.errcode);
  return undefined;
}

/** A scripted errcode, answered and counted like a real one. */
class InjectedErrcode extends Error {
  constructor(readonly errcode: number) {
    super(`injected errcode ${errcode}`);
  }
}

/**
 * `POST /cgi-bin/message/subscribe/send?access_token=`, checked in WeChat's order: the token
 * (charging the daily quota), the body (44002 / 47001), the user's scripted fault, the app's rate
 * limit (45009), then the user (40003), template (40037), data (47003) and the subscription (43101).
 */
export async function sendSubscribeMessage(
  store: MpStore,
  state: SubscribeMessages,
  reply: ErrorReply,
  req: SandboxRequest,
): Promise<SandboxResponse | 'hang'> {
  const token = req.query.get('access_token') ?? undefined;
  let appid: string | undefined;
  let touser: string | undefined;
  let rateLimited = false;
  try {
    appid = store.appOfToken(token, SEND_API);
    const body = wechatJsonBody(req);
    touser = typeof body.touser === 'string' ? body.touser : undefined;
    const fault = touser === undefined ? undefined : state.faults.take(appid, touser);
    const injected = fault === undefined ? undefined : await playFault(state, appid, fault, req.gone);
    if (injected !== undefined) return injected;
    rateLimited = !state.rateLimits.take(appid, SEND_API);
    if (rateLimited) throw new WxError(45009);
    const message = checkMessage(store, state, appid, body);
    if (!state.subscriptions.consume(appid, message.touser, message.template_id)) throw new WxError(43101);
    const msgid = state.log.sent(appid, { ...message, sentAt: store.now() });
    return { body: { errcode: 0, errmsg: 'ok', msgid } };
  } catch (error) {
    if (!(error instanceof WxError || error instanceof InjectedErrcode)) throw error;
    const owner = appid ?? store.tokenOwner(token);
    if (owner !== undefined) state.log.refused(owner, touser, error.errcode, rateLimited);
    if (error instanceof WxError) return reply(error.errcode, error.detail);
    const code = error.errcode;
    return isErrcode(code) ? reply(code) : { body: { errcode: code, errmsg: error.message } };
  }
}
