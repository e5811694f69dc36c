import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  checkRequestBody,
  closeWhenBodyUnread,
  HttpBodyError,
  readRequestBody,
  type HttpRoute,
  type Logger,
} from '@wxmesh/rpc';
import { createMessageCrypt, MessageCryptError, type MessageCrypt } from '@wxmesh/wechat';
import { tracedWebhook } from '@wxmesh/telemetry';
import { PushBodyError, readPushFields, type AcceptPush } from './app/accept-push.js';
import type { PushApp } from './inbound-config.js';

/** Options of {@link createPushWebhook}. */
export interface PushWebhookOptions {
  /** `WECHAT_PUSH_PATH`; each app's URL is `<path>/<appid>`. */
  path: string;
  /** `WECHAT_PUSH_APPS`. */
  apps: readonly PushApp[];
  /** The accept use case (see createAcceptPush). */
  acceptPush: AcceptPush;
  logger: Logger;
  /** `INBOUND_MAX_BODY`, bytes. */
  maxBodyBytes: number;
  /** `INBOUND_CONCURRENCY`: pushes in progress at once before new ones get 503. */
  maxInFlight: number;
  /** `INBOUND_ACCEPT_DEADLINE`: answered within this (503 when not accepted by then). */
  deadlineMs: number;
  /** Per-app crypto; default `createMessageCrypt` (tests may pass their own random source). */
  cryptFor?: (app: PushApp & { encodingAesKey: string }) => MessageCrypt;
}

class Answer {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

interface AppEntry {
  readonly app: PushApp;
  /** Checks the Token-based `signature` (URL verification, plain-mode pushes). */
  readonly signer: MessageCrypt;
  /** The crypto, for an app with an EncodingAESKey (safe and compatible mode). */
  readonly crypt: MessageCrypt | undefined;
}

// A plain-mode app has no EncodingAESKey, yet its `signature` is the same Token-based sha1 that
// MessageCrypt computes; this stand-in key lets it do so and is never used to encrypt or decrypt
// (a safe-mode push to such an app is refused before any decryption).
const PLAIN_MODE_KEY = 'A'.repeat(43);

function appEntry(app: PushApp, cryptFor: NonNullable<PushWebhookOptions['cryptFor']>): AppEntry {
  const crypt = app.encodingAesKey ? cryptFor({ ...app, encodingAesKey: app.encodingAesKey }) : undefined;
  return { app, crypt, signer: crypt ?? cryptFor({ ...app, encodingAesKey: PLAIN_MODE_KEY }) };
}

/**
 * WeChat's message-push URL for each configured app, `GET|POST <path>/<appid>` on the http port.
 *
 * GET is the console's URL verification: `signature` over (token, timestamp, nonce) → `echostr`
 * as text/plain, 401 otherwise. POST is a push: the body is limited (413, also for a declared
 * Content-Length over the limit, before anything is read), compressed bodies are refused (415), a
 * body still arriving after half the accept deadline too (408);
 * plain mode checks `signature`, safe/compatible mode (`encrypt_type=aes`) checks
 * `msg_signature` and decrypts (401 for a signature or appid mismatch, 400 for a malformed
 * ciphertext); the message may be XML or JSON. It is answered `success` only once the push is
 * durably accepted (new or a retry of one already accepted); 503 when it could not be (Redis
 * down, the inbound stream full, the deadline passed) so WeChat retries; 400 with the reason for
 * a body that is not a push, 404 for an unknown appid, 405 for other methods.
 *
 * Never logged: the body, the token, the key. Logged: the appid, the push's kind, the outcome.
 */
export function createPushWebhook(options: PushWebhookOptions): HttpRoute {
  const { path, logger, maxBodyBytes, maxInFlight, deadlineMs, acceptPush } = options;
  const cryptFor = options.cryptFor ?? ((app) => createMessageCrypt(app));
  const apps = new Map<string, AppEntry>(options.apps.map((app) => [app.appid, appEntry(app, cryptFor)]));
  const prefix = `${path}/`;
  let inFlight = 0;

  async function handlePost(req: IncomingMessage, entry: AppEntry, query: URLSearchParams) {
    // A body gets half the accept deadline (pushes are small and sent at once): a slow sender is
    // answered 408 instead of holding its place, and the rest of the deadline stays for the work.
    const timeoutMs = Math.floor(deadlineMs / 2);
    const body = (await readRequestBody(req, { maxBytes: maxBodyBytes, timeoutMs })).toString('utf8');
    const message = openMessage(entry, query, body);
    const { outcome } = await acceptPush(entry.app.appid, message).catch((err: unknown) => {
      throw err instanceof PushBodyError ? new Answer(400, err.message) : err;
    });
    if (outcome === 'full') throw new Answer(503, 'too many pushes waiting to be processed; retry later');
  }

  async function handle(req: IncomingMessage, res: ServerResponse, appid: string, query: URLSearchParams) {
    const entry = apps.get(appid);
    if (entry === undefined) throw new Answer(404, 'no push receiver for this appid');
    if (req.method === 'GET') {
      const echostr = query.get('echostr');
      if (!echostr) throw new Answer(400, 'echostr is required for URL verification');
      checkSignature(entry, query);
      reply(res, 200, echostr);
      return;
    }
    if (req.method !== 'POST') throw new Answer(405, 'use GET (URL verification) or POST (a push)');
    checkRequestBody(req, maxBodyBytes);
    if (inFlight >= maxInFlight) throw new Answer(503, 'too many pushes in progress; retry later');
    // Counted until the work settles, not until the deadline answers: work left running past it
    // (a body still arriving, a command queued for a Redis that is down) still holds its place.
    inFlight++;
    const work = handlePost(req, entry, query).finally(() => inFlight--);
    await withDeadline(work, deadlineMs);
    reply(res, 200, 'success');
  }

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://push.invalid');
    if (!url.pathname.startsWith(prefix)) return false;
    const appid = url.pathname.slice(prefix.length);
    if (appid === '' || appid.includes('/')) return false;
    // A body refused before its end (too large, too slow) is not drained: the connection closes.
    closeWhenBodyUnread(req, res);
    await tracedWebhook(req, res, `${prefix}{appid}`, () => answer(req, res, appid, url.searchParams));
    return true;
  };

  async function answer(req: IncomingMessage, res: ServerResponse, appid: string, query: URLSearchParams) {
    try {
      await handle(req, res, appid, query);
    } catch (err) {
      if (err instanceof Answer || err instanceof HttpBodyError) {
        if (err.status === 405) res.setHeader('allow', 'GET, POST');
        // The answers' texts name the check that failed, never a secret or the body's content.
        if (err.status >= 500)
          logger.warn(
            { appid, status: err.status, why: err.message },
            'push not accepted; WeChat will retry',
          );
        else logger.info({ appid, status: err.status, why: err.message }, 'push refused');
        reply(res, err.status, err.message);
      } else {
        logger.warn(
          { appid, err: err instanceof Error ? err.message : String(err) },
          'push not accepted; WeChat will retry',
        );
        reply(res, 503, 'could not accept the push now; retry later');
      }
    }
  }
}

/** The message text of a push: the body in plain mode, the decrypted `Encrypt` in safe mode. */
function openMessage(entry: AppEntry, query: URLSearchParams, body: string): string {
  const encryptType = query.get('encrypt_type');
  if (encryptType === null || encryptType === '' || encryptType === 'raw') {
    checkSignature(entry, query);
    return body;
  }
  if (encryptType !== 'aes') throw new Answer(400, `encrypt_type ${encryptType} is not supported`);
  if (entry.crypt === undefined)
    throw new Answer(400, 'safe-mode push, but no EncodingAESKey is configured for this appid');
  const msgSignature = query.get('msg_signature');
  const timestamp = query.get('timestamp');
  const nonce = query.get('nonce');
  if (!msgSignature) throw new Answer(401, 'msg_signature is required in safe mode');
  if (!timestamp || !nonce) throw new Answer(400, 'timestamp and nonce are required');
  const encrypt = encryptedField(body);
  try {
    return entry.crypt.open({ msgSignature, timestamp, nonce, encrypt });
  } catch (err) {
    if (!(err instanceof MessageCryptError)) throw err;
    if (err.reason === 'signature') throw new Answer(401, 'msg_signature does not match');
    if (err.reason === 'appid') throw new Answer(401, 'the message is for another appid');
    throw new Answer(400, 'Encrypt could not be decrypted (malformed ciphertext or padding)');
  }
}

function encryptedField(body: string): string {
  let fields: Record<string, unknown>;
  try {
    fields = readPushFields(body);
  } catch (err) {
    throw new Answer(400, err instanceof PushBodyError ? err.message : 'body is not a push');
  }
  // `Encrypt` as WeChat spells it; WeCom's JSON callbacks write `encrypt`.
  const encrypt = fields.Encrypt ?? fields.encrypt;
  if (typeof encrypt !== 'string' || encrypt === '')
    throw new Answer(400, 'safe-mode push without an Encrypt field');
  return encrypt;
}

function checkSignature(entry: AppEntry, query: URLSearchParams): void {
  const signature = query.get('signature');
  const timestamp = query.get('timestamp');
  const nonce = query.get('nonce');
  if (!signature) throw new Answer(401, 'signature is required');
  if (!timestamp || !nonce) throw new Answer(400, 'timestamp and nonce are required');
  if (!entry.signer.verifySignature(signature, timestamp, nonce))
    throw new Answer(401, 'signature does not match');
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Answer(503, 'not accepted within the deadline; retry')), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
}
