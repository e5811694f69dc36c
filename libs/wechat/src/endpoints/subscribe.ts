import { z } from 'zod';
import type { WeChatApi } from '../api-client.js';
import { parseAnswer } from './answer.js';

/** The path of the subscribe-message send API (for breaker names and messages). */
export const SUBSCRIBE_SEND = '/cgi-bin/message/subscribe/send';

// Only the errcode decides that the message went out; msgid is WeChat's receipt, a number today,
// taken as a string too so that a receipt in another spelling never turns a sent message into a retry.
const sendAnswer = z.object({ msgid: z.union([z.number(), z.string()]).optional() });

/** One subscribe message to one user. */
export interface SubscribeMessage {
  /** The recipient's openid. */
  readonly toUser: string;
  readonly templateId: string;
  /** The mini-program page the message opens; empty for none. */
  readonly page: string;
  /** Template keys to their values (`{ thing1: 'Order shipped' }`). */
  readonly data: Readonly<Record<string, string>>;
  readonly miniprogramState: 'formal' | 'trial' | 'developer';
  /** `zh_CN` when empty. */
  readonly lang: string;
}

/**
 * `POST /cgi-bin/message/subscribe/send`: one subscribe message. WeChat's refusals come back as
 * `WeChatApiError`s whose `kind` says what to do (`token-invalid`, `quota-exhausted`,
 * `no-subscription`, ...).
 */
export async function sendSubscribeMessage(
  api: WeChatApi,
  input: { accessToken: string; message: SubscribeMessage },
  signal?: AbortSignal,
): Promise<{ msgid: string | undefined }> {
  const json = await api.post<unknown>(
    SUBSCRIBE_SEND,
    { access_token: input.accessToken },
    subscribeBody(input.message),
    signal,
  );
  const { msgid } = parseAnswer(SUBSCRIBE_SEND, sendAnswer, json);
  return { msgid: msgid === undefined ? undefined : String(msgid) };
}

function subscribeBody(message: SubscribeMessage): Record<string, unknown> {
  return {
    touser: message.toUser,
    template_id: message.templateId,
    ...(message.page ? { page: message.page } : {}),
    data: Object.fromEntries(Object.entries(message.data).map(([key, value]) => [key, { value }])),
    miniprogram_state: message.miniprogramState,
    lang: message.lang || 'zh_CN',
  };
}
