import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { wechatJsonBody } from './api.js';
import { isErrcode, type ErrorReply } from './errors.js';
import { keywordProblem, keywordType } from './keyword-rules.js';
import { createRateLimits } from './rate-limits.js';
import { createSendLog, type SentMessage } from './send-log.js';
import { WxError, type MpStore } from './store.js';
import {
  createFaultScripts,
  createSubscriptions,
  createTemplates,
  type SendFault,
} from './subscribe-state.js';

/** The subscribe-message send API path. */
export const SEND_API = '/cgi-bin/message/subscribe/send';

const MINIPROGRAM_STATES = ['developer', 'trial', 'formal'];
const LANGS = ['zh_CN', 'en_US', 'zh_HK', 'zh_TW'];

/**
 * The subscribe-message side's state, each part explicit and reset together: templates, user
 * subscriptions, per-user fault scripts, rate limits (on the sandbox clock) and the send log.
 */
export function createSubscribeMessages(clock: () => number) {
  const parts = {
    templates: createTemplates(),
    subscriptions: createSubscriptions(),
    faults: createFaultScripts(),
    rateLimits: createRateLimits(clock),
    log: createSendLog(),
  };
  return {
    ...parts,
    reset(): void {
      for (const part of Object.values(parts)) part.reset();
    },
  };
}

/** The state {@link createSubscribeMessages} returns. */
export type SubscribeMessages = ReturnType<typeof createSubscribeMessages>;

const invalid = (detail: string) => new WxError(47003, `argument invalid! ${detail}`);

/** The message's data checked against the template's keywords and their types' rules (47003). */
function checkData(keywords: readonly string[], data: unknown): Record<string, { value: string }> {
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    throw invalid('data invalid');
  }
  const entries = (data ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(entries)) {
    if (!keywords.includes(name)) throw invalid(`data.${name} not in template`);
  }
  const checked: Record<string, { value: string }> = {};
  for (const name of keywords) {
    const entry = entries[name] as { value?: unknown } | undefined;
    const value = typeof entry === 'object' && entry !== null ? entry.value : undefined;
    if (value === undefined || value === '') throw invalid(`data.${name}.value is empty`);
    const problem = typeof value === 'string' ? keywordProblem(keywordType(name)!, value) : 'invalid';
    if (problem !== undefined) throw invalid(`data.${name}.value ${problem}`);
    checked[name] = { value: value as string };
  }
  return checked;
}

/** The send request's fields in WeChat's order of checks: 40003, 40037, 47003. */
function checkMessage(
  store: MpStore,
  state: SubscribeMessages,
  appid: string,
  body: Record<string, unknown>,
): Omit<SentMessage, 'msgid' | 'sentAt'> {
  const { touser, template_id, page } = body;
  if (typeof touser !== 'string' || !store.knowsUser(appid, touser)) throw new WxError(40003);
  const keywords = typeof template_id === 'string' ? state.templates.keywords(appid, template_id) : undefined;
  if (keywords === undefined) throw new WxError(40037);
  const data = checkData(keywords, body.data);
  const miniprogram_state = body.miniprogram_state ?? 'formal';
  if (typeof miniprogram_state !== 'string' || !MINIPROGRAM_STATES.includes(miniprogram_state)) {
    throw invalid('miniprogram_state invalid');
  }
  const lang = body.lang ?? 'zh_CN';
  if (typeof lang !== 'string' || !LANGS.includes(lang)) throw invalid('lang invalid');
  if (page !== undefined && typeof page !== 'string') throw invalid('page invalid');
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
async function send(
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

/** The send API's endpoints: POST sends, GET answers 43002 as WeChat does. */
export function createSubscribeSendEndpoints(
  store: MpStore,
  state: SubscribeMessages,
  reply: ErrorReply,
): Endpoint[] {
  return [
    {
      method: 'POST',
      path: SEND_API,
      handler: async (req) => {
        const answer = await send(store, state, reply, req);
        // A hang is never answered: the caller's timeout must cope, as with WeChat gone silent.
        return answer === 'hang' ? new Promise<never>(() => {}) : answer;
      },
    },
    { method: 'GET', path: SEND_API, handler: () => reply(43002) },
  ];
}
