import { commaList, duration, envField, integer, sensitive, type EnvField } from '@wxmesh/config';
import { z } from 'zod';

/** One mini-program / official account whose message pushes this service receives. */
export interface PushApp {
  readonly appid: string;
  /** The push Token from the admin console: signs every push and the URL verification. */
  readonly token: string;
  /** The 43-character EncodingAESKey; absent for an app configured in plain mode. */
  readonly encodingAesKey?: string;
}

const APPID = /^[A-Za-z0-9_-]{1,64}$/;
// WeChat's console takes a Token of 3 to 32 letters and digits; we only refuse what cannot work.
const TOKEN = /^[A-Za-z0-9]{1,128}$/;
const AES_KEY = /^[A-Za-z0-9+/]{43}$/;

/**
 * `WECHAT_PUSH_APPS`: `appid:token:encodingAesKey` items, comma-separated; `appid:token` for an app
 * in plain mode. Sensitive: a bad value is reported by position and expectation, never echoed.
 * Two items for one appid are refused (which one would win would be a guess).
 */
export function pushApps(): EnvField<PushApp[]> {
  const item = envField('appid:token or appid:token:encodingAesKey (a 43-character key)', (raw) => {
    const [appid, token, key, ...rest] = raw.split(':');
    if (rest.length > 0 || !appid || !APPID.test(appid) || !token || !TOKEN.test(token)) return undefined;
    if (key === undefined) return { appid, token } satisfies PushApp;
    return AES_KEY.test(key) ? ({ appid, token, encodingAesKey: key } satisfies PushApp) : undefined;
  });
  return sensitive(
    commaList(item).refine((apps) => new Set(apps.map((a) => a.appid)).size === apps.length, {
      message: 'expected each appid once',
    }),
  );
}

/**
 * The inbound (WeChat message push) part of message-router's configuration. Spread it into the
 * service's `defineConfig({...})`; durations are written like `500ms`, `30s`, `2m`.
 */
export const inboundConfig = {
  /** Apps whose pushes are accepted (see {@link pushApps}); empty: every push is answered 404. */
  WECHAT_PUSH_APPS: pushApps().default([]),
  /** The push URL's path on the http port; each app's URL is `<path>/<appid>`. */
  WECHAT_PUSH_PATH: z
    .string()
    .trim()
    .regex(/^\/[\w.-]+(?:\/[\w.-]+)*$/, 'expected an absolute path without a trailing slash')
    .default('/webhooks/wechat/message'),
  /** Inbound stream entries pending this long at a consumer are taken over (XAUTOCLAIM) by another. */
  INBOUND_CLAIM_IDLE: duration().default(30_000),
  /** Largest push body read, in bytes; a larger one is refused with 413 before it is buffered. */
  INBOUND_MAX_BODY: integer({ min: 1024, max: 16 * 1024 * 1024 }).default(64 * 1024),
  /**
   * Entries the inbound stream may hold (accepted, not yet processed). Beyond it new pushes get
   * 503 and WeChat retries them later; accepted ones are never trimmed.
   */
  INBOUND_MAX_ENTRIES: integer({ min: 1, max: 100_000_000 }).default(100_000),
  /** Pushes being read and accepted at once by one replica; beyond it, 503 (WeChat retries). */
  INBOUND_CONCURRENCY: integer({ min: 1, max: 100_000 }).default(512),
  /** A push is answered within this, whatever happens (503 when not accepted by then); under 5s. */
  INBOUND_ACCEPT_DEADLINE: duration()
    .refine((ms) => ms < 5_000, { message: 'expected under 5s (WeChat waits 5s for an answer)' })
    .default(3_000),
};
