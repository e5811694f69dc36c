import { z } from 'zod';
import type { WeChatApi } from '../api-client.js';
import { parseAnswer } from './answer.js';

const STABLE_TOKEN = '/cgi-bin/stable_token';
const GET_TICKET = '/cgi-bin/ticket/getticket';

/** A credential WeChat issued and how long it lives from the moment of the answer. */
export interface IssuedCredential {
  readonly value: string;
  readonly expiresInSeconds: number;
}

const expiresIn = z.number().int().nonnegative();
const tokenAnswer = z.object({ access_token: z.string().min(1), expires_in: expiresIn });
const ticketAnswer = z.object({ ticket: z.string().min(1), expires_in: expiresIn });

/**
 * `POST /cgi-bin/stable_token`: the app's access_token. Without `forceRefresh` WeChat hands out
 * its current token while it lives; with it, a new one (the old one keeps working for five
 * minutes), a few times a day at most (`quota-exhausted`).
 */
export async function getStableAccessToken(
  api: WeChatApi,
  input: { appid: string; appSecret: string | undefined; forceRefresh: boolean },
  signal?: AbortSignal,
): Promise<IssuedCredential> {
  const body = {
    grant_type: 'client_credential',
    appid: input.appid,
    secret: input.appSecret,
    force_refresh: input.forceRefresh,
  };
  const json = await api.post<unknown>(STABLE_TOKEN, {}, body, signal);
  const answer = parseAnswer(STABLE_TOKEN, tokenAnswer, json);
  return { value: answer.access_token, expiresInSeconds: answer.expires_in };
}

/** `GET /cgi-bin/ticket/getticket?type=jsapi`: the app's JS-SDK ticket, for `wx.config` signatures. */
export async function getJsapiTicket(
  api: WeChatApi,
  input: { accessToken: string },
  signal?: AbortSignal,
): Promise<IssuedCredential> {
  const json = await api.get<unknown>(GET_TICKET, { access_token: input.accessToken, type: 'jsapi' }, signal);
  const answer = parseAnswer(GET_TICKET, ticketAnswer, json);
  return { value: answer.ticket, expiresInSeconds: answer.expires_in };
}
