import { createHash } from 'node:crypto';
import { createMessageCrypt, MessageCryptError, parsePushBody, renderPushXml } from '@wxmesh/wechat';
import type { MessageCrypt } from '@wxmesh/wechat';

/** Where and how WeChat pushes an app's messages, as the admin console configures it. */
export interface PushConfig {
  readonly appid: string;
  /** The developer's push URL (the mesh's webhook). */
  readonly url: string;
  /** The push Token: signs every push. Never echoed. */
  readonly token: string;
  /** The 43-character EncodingAESKey; required for `compat` and `safe`. Never echoed. */
  readonly encodingAesKey?: string;
  /** plain: cleartext; compat: cleartext plus `Encrypt`; safe: `Encrypt` only. */
  readonly mode: 'plain' | 'compat' | 'safe';
  readonly format: 'xml' | 'json';
  /** How long WeChat waits for an answer before it counts the attempt as unanswered (5 s). */
  readonly timeoutMs: number;
}

/** One delivery attempt: the HTTP status, or why there was none, and how long it took. */
export interface PushAttempt {
  readonly status?: number;
  readonly error?: string;
  readonly ms: number;
}

/** What happened to one push. */
export interface PushResult {
  readonly attempts: PushAttempt[];
  /** Whether some attempt was answered with HTTP 200 in time. */
  readonly answered: boolean;
  /** The first answer's body: decrypted when it was an encrypted reply envelope, else its text. */
  readonly reply?: string;
  /** Why an encrypted reply could not be opened (`signature`, `appid`, `padding`, `malformed`). */
  readonly replyError?: string;
}

/** WeChat's documented behaviour: three attempts in all while unanswered. */
export const PUSH_MAX_ATTEMPTS = 3;

// Plain mode signs with the Token only; the crypt still wants a well-formed key, never used.
const UNUSED_KEY = 'A'.repeat(43);

/** The configuration as the control API shows it: without the Token and the key. */
export function publicPushConfig(config: PushConfig) {
  const { appid, url, mode, format, timeoutMs } = config;
  return { appid, url, mode, format, timeoutMs };
}

function xmlElement(name: string, value: unknown): string {
  if (Array.isArray(value)) return value.map((item) => xmlElement(name, item)).join('');
  if (typeof value === 'number') return `<${name}>${value}</${name}>`;
  if (typeof value === 'object' && value !== null) {
    const children = Object.entries(value).map(([k, v]) => xmlElement(k, v));
    return `<${name}>${children.join('')}</${name}>`;
  }
  return `<${name}><![CDATA[${String(value).replaceAll(']]>', ']]]]><![CDATA[>')}]]></${name}>`;
}

/**
 * A push's fields as WeChat's XML. Flat fields go through libs/wechat's renderer; nested ones
 * (`SubscribeMsgPopupEvent` with its `List`s) are rendered as nested elements, arrays as repeated
 * elements, as WeChat sends them.
 */
export function renderPushFields(fields: Record<string, unknown>): string {
  const flat = Object.values(fields).every((v) => typeof v === 'string' || typeof v === 'number');
  if (flat) return renderPushXml(fields as Record<string, string | number>);
  return `<xml>${Object.entries(fields)
    .map(([k, v]) => xmlElement(k, v))
    .join('')}</xml>`;
}

/**
 * The `subscribe_msg_popup_event` WeChat pushes when the user answers a subscription popup, in the
 * configured format: XML nests the answers in `SubscribeMsgPopupEvent/List`, JSON puts them in a
 * top-level `List` array (as the mini-program docs show).
 */
export function popupEventMessage(
  format: 'xml' | 'json',
  p: { openid: string; templateId: string; status: 'accept' | 'reject' },
): Record<string, unknown> {
  const answer = { TemplateId: p.templateId, SubscribeStatusString: p.status };
  return {
    FromUserName: p.openid,
    MsgType: 'event',
    Event: 'subscribe_msg_popup_event',
    ...(format === 'xml'
      ? { SubscribeMsgPopupEvent: { List: { ...answer, PopupScene: 0 } } }
      : { List: [{ ...answer, PopupScene: '0' }] }),
  };
}

/** The mini-program's original id (`gh_...`), WeChat's ToUserName; derived from the appid. */
function originalId(appid: string): string {
  return `gh_${createHash('sha1').update(appid).digest('hex').slice(0, 12)}`;
}

/** One POST with WeChat's timeout: the status and body text, or why there was no answer. */
async function attempt(
  config: PushConfig,
  request: { query: URLSearchParams; body: string },
  now: () => number,
): Promise<PushAttempt & { text?: string }> {
  const started = now();
  const target = new URL(config.url);
  for (const [k, v] of request.query) target.searchParams.set(k, v);
  try {
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': config.format === 'xml' ? 'text/xml' : 'application/json' },
      body: request.body,
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, ms: now() - started, text };
  } catch (error) {
    const name = (error as Error).name;
    const reason = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : describe(error);
    return { error: reason, ms: now() - started };
  }
}

/** A connection failure's code (ECONNREFUSED, ...) or message, without the URL's secrets. */
function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof cause?.message === 'string' ? cause.message : String((error as Error).message);
}

/**
 * Builds the signed (and in compat/safe mode encrypted) request WeChat sends for `fields`: query
 * `signature`, `timestamp`, `nonce`, `openid` (+ `encrypt_type=aes`, `msg_signature`), body in
 * the configured format.
 */
function signedRequest(
  config: PushConfig,
  crypt: MessageCrypt,
  fields: Record<string, unknown>,
  p: { timestamp: string; nonce: string },
) {
  const query = new URLSearchParams({
    signature: crypt.signature(p.timestamp, p.nonce),
    timestamp: p.timestamp,
    nonce: p.nonce,
    openid: String(fields.FromUserName),
  });
  const render = (f: Record<string, unknown>) =>
    config.format === 'xml' ? renderPushFields(f) : JSON.stringify(f);
  if (config.mode === 'plain') return { query, body: render(fields) };
  const encrypt = crypt.encrypt(render(fields));
  query.set('encrypt_type', 'aes');
  query.set('msg_signature', crypt.signature(p.timestamp, p.nonce, encrypt));
  const envelope =
    config.mode === 'safe'
      ? { ToUserName: String(fields.ToUserName), Encrypt: encrypt }
      : { ...fields, Encrypt: encrypt };
  return { query, body: render(envelope) };
}

/** The answer's body: an encrypted reply envelope opened, else the text as it came. */
function readReply(config: PushConfig, crypt: MessageCrypt, text: string) {
  let fields: Record<string, unknown>;
  try {
    fields = parsePushBody(text, config.format);
  } catch {
    return { reply: text };
  }
  const { Encrypt, MsgSignature, TimeStamp, Nonce } = fields;
  if (typeof Encrypt !== 'string' || typeof MsgSignature !== 'string') return { reply: text };
  try {
    const reply = crypt.open({
      msgSignature: MsgSignature,
      timestamp: String(TimeStamp),
      nonce: String(Nonce),
      encrypt: Encrypt,
    });
    return { reply };
  } catch (error) {
    if (error instanceof MessageCryptError) return { reply: text, replyError: error.reason };
    throw error;
  }
}

/**
 * The sandbox playing WeChat's message push: per-app push configurations, and `push`, which signs
 * and encrypts a message as WeChat does and delivers it, retrying (up to {@link PUSH_MAX_ATTEMPTS}
 * in all) while unanswered: timeout, connection error or a status other than 200. `deliveries`
 * sends the same request that many times regardless, as when WeChat lost the answers. `now` is the
 * sandbox clock (CreateTime, timestamp); `random` makes nonces and the encryption's prefix.
 */
export function createPushSender(deps: { now: () => number; random: (size: number) => Buffer }) {
  let configs = new Map<string, { config: PushConfig; crypt: MessageCrypt }>();
  const seconds = () => Math.floor(deps.now() / 1000);

  return {
    /** Sets the app's configuration; throws RangeError (naming the field) on a bad key. */
    configure(config: PushConfig): void {
      const crypt = createMessageCrypt({
        token: config.token,
        appid: config.appid,
        encodingAesKey: config.encodingAesKey ?? UNUSED_KEY,
        random: deps.random,
      });
      configs.set(config.appid, { config, crypt });
    },
    config: (appid: string) => configs.get(appid)?.config,

    /**
     * Pushes `message` (FromUserName, MsgType, ...) to the app's URL; resolves when done.
     * ToUserName (the app's `gh_` id) and CreateTime (now) are defaulted, and a MsgId for
     * messages other than events.
     */
    async push(appid: string, message: Record<string, unknown>, deliveries = 1): Promise<PushResult> {
      const entry = configs.get(appid);
      if (entry === undefined) throw new Error(`no push configuration for ${appid}`);
      const { config, crypt } = entry;
      const now = seconds();
      const given = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined));
      const fields: Record<string, unknown> = {
        ToUserName: originalId(appid),
        FromUserName: given.FromUserName,
        CreateTime: now,
        ...given,
      };
      // Messages (not events) carry a MsgId, receivers' dedupe key when WeChat retries.
      if (fields.MsgType !== 'event' && fields.MsgId === undefined) {
        fields.MsgId = deps.random(6).readUIntBE(0, 6);
      }
      const nonce = String(deps.random(4).readUInt32BE(0));
      const request = signedRequest(config, crypt, fields, { timestamp: String(now), nonce });
      const attempts: PushAttempt[] = [];
      let answer: string | undefined;
      for (let n = 1; ; n++) {
        const { text, ...result } = await attempt(config, request, deps.now);
        attempts.push(result);
        if (result.status === 200 && answer === undefined) answer = text ?? '';
        if (n >= deliveries && (answer !== undefined || n >= PUSH_MAX_ATTEMPTS)) break;
      }
      if (answer === undefined) return { attempts, answered: false };
      return { attempts, answered: true, ...(answer === '' ? {} : readReply(config, crypt, answer)) };
    },

    reset(): void {
      configs = new Map();
    },
  };
}
