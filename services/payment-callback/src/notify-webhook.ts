import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRequestBody, HttpBodyError, readRequestBody, type HttpRoute, type Logger } from '@wxmesh/rpc';
import {
  DEFAULT_MAX_SKEW_SECONDS,
  decryptResource,
  ResourceDecryptionError,
  signatureHeadersOf,
  verifyWechatpaySignature,
  type EncryptedResource,
} from '@wxmesh/wechat-pay';
import { registeredCounter, tracedWebhook } from '@wxmesh/telemetry';
import { register } from 'prom-client';
import type { PaymentSecrets } from './adapters/secrets.js';
import type { PaymentStore } from './adapters/payment-store.js';
import type { NotificationOutcome } from './app/deps.js';
import { NotDurableError } from './app/owed-events.js';
import type { Payments } from './app/payments.js';
import type { RefundResource, TransactionResource } from './domain/order.js';

/**
 * Notification bodies are small JSON; anything larger is refused (413) before it is buffered, a
 * compressed one (415) before it is read.
 */
const MAX_BODY_BYTES = 64 * 1024;

/** How long a nonce is remembered: the whole window a signed timestamp is accepted in, both ways. */
const NONCE_WINDOW_MS = 2 * DEFAULT_MAX_SKEW_SECONDS * 1000;

const outcomes = registeredCounter(register, {
  name: 'wxmesh_payment_notifications_total',
  help: 'WeChat Pay notifications by outcome (applied, duplicate, anomaly, ignored, rejected_<reason>, failed, overloaded, timeout).',
  labelNames: ['outcome'],
});

class Answer {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

/** A bounded work queue: at most `concurrency` running and `maxQueued` waiting; beyond that, refuse. */
export function createWorkQueue(concurrency: number, maxQueued: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return {
    async run<T>(work: () => Promise<T>): Promise<T> {
      if (running >= concurrency) {
        if (waiting.length >= maxQueued)
          throw new Answer(503, 'too many notifications in progress; retry later');
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else running++;
      try {
        return await work();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
  };
}

function reply(res: ServerResponse, status: number, message?: string): void {
  if (res.headersSent || res.destroyed) return;
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  res
    .writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
    .end(JSON.stringify({ code: 'FAIL', message }));
}

/**
 * The WeChat Pay notify webhook (`POST <path>` on the http port). In order, with no side effect
 * before the signature is proven: the four `Wechatpay-*` headers, no SIGNTEST probe, timestamp
 * within 300 s, the key `Wechatpay-Serial` names, the signature over the raw body bytes; then the
 * nonce (a nonce reused for different content within the window is refused; the same signed
 * message redelivered is not), the resource decrypted with the APIv3 key(s), and the effect
 * applied through {@link Payments} (deduplicated on transaction_id / refund_id).
 *
 * Answers: 204 only once the state change is in Redis and its event acknowledged by Kafka (or
 * there was nothing to do); 4xx for anything that is not a genuine notification; 5xx
 * `{"code":"FAIL","message":...}` so WeChat Pay retries when the effect is not durable yet,
 * the work queue is full, or `deadlineMs` passed (always well inside WeChat's 5 s).
 */
export function createNotifyWebhook(deps: NotifyWebhookDeps): HttpRoute {
  return async (req, res) => {
    if (req.method !== 'POST' || req.url?.split('?', 1)[0] !== deps.path) return false;
    await tracedWebhook(req, res, deps.path, () => answer(deps, req, res));
    return true;
  };
}

/** What the notify webhook needs; `store` only remembers nonces. */
export interface NotifyWebhookDeps {
  path: string;
  secrets: PaymentSecrets;
  store: Pick<PaymentStore, 'claimNonce'>;
  payments: Pick<Payments, 'applyTransaction' | 'applyRefund'>;
  now: () => number;
  logger: Logger;
  deadlineMs: number;
  queue: ReturnType<typeof createWorkQueue>;
}

/** A verified notification, its resource decrypted. */
interface Notification {
  id?: string;
  type: string;
  resource: unknown;
}

async function answer(deps: NotifyWebhookDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    // A compressed or declared-oversize body is refused before it takes a place in the queue.
    checkRequestBody(req, MAX_BODY_BYTES);
    const handled = deps.queue.run(async () => apply(deps, decrypt(deps, await authenticate(deps, req))));
    outcomes.inc({ outcome: await within(deps.deadlineMs, handled) });
    reply(res, 204);
  } catch (err) {
    replyFailed(res, err, deps.logger);
  }
}

/**
 * The body, once its signature is proven and its nonce not reused for other content; an Answer
 * (4xx) otherwise. Nothing is changed before this returns.
 */
async function authenticate(deps: NotifyWebhookDeps, req: IncomingMessage): Promise<Buffer> {
  const { secrets, store, now, logger, deadlineMs } = deps;
  // Half the deadline for the body (notifications are small and sent at once): a slow sender
  // gets 408 rather than holding a queue slot, and the rest of the deadline stays for the work.
  const bodyTimeoutMs = Math.floor(deadlineMs / 2);
  const body = await readRequestBody(req, { maxBytes: MAX_BODY_BYTES, timeoutMs: bodyTimeoutMs });
  const headers = signatureHeadersOf(req.headers);
  const verified = verifyWechatpaySignature(secrets.platformKeys(), headers, body, { nowMs: now() });
  if (!verified.ok) {
    outcomes.inc({ outcome: `rejected_${verified.reason}` });
    logger.warn({ reason: verified.reason, serial: headers.serial }, 'notification rejected');
    throw new Answer(
      verified.reason === 'missing-header' || verified.reason === 'bad-timestamp' ? 400 : 401,
      verified.detail,
    );
  }
  const contentFp = createHash('sha256').update(`${verified.timestamp}\n`).update(body).digest('base64url');
  if (!(await store.claimNonce(verified.nonce, contentFp, NONCE_WINDOW_MS))) {
    outcomes.inc({ outcome: 'rejected_nonce-reused' });
    throw new Answer(401, 'Wechatpay-Nonce was already used for another message');
  }
  return body;
}

/** The notification in a verified body, its resource decrypted with the APIv3 key(s). */
function decrypt(deps: NotifyWebhookDeps, body: Buffer): Notification {
  let notification: { id?: string; event_type?: string; resource?: EncryptedResource };
  try {
    notification = JSON.parse(body.toString('utf8')) as typeof notification;
  } catch {
    throw new Answer(400, 'body is not JSON');
  }
  if (typeof notification.event_type !== 'string' || typeof notification.resource?.ciphertext !== 'string')
    throw new Answer(400, 'not a WeChat Pay notification (event_type and resource required)');
  try {
    const plain = decryptResource(deps.secrets.apiV3Keys(), notification.resource).toString('utf8');
    return { id: notification.id, type: notification.event_type, resource: JSON.parse(plain) };
  } catch (err) {
    // Genuinely signed by WeChat Pay, yet not decryptable: our APIv3 key is wrong or rotating.
    // 5xx so WeChat retries once the key is fixed.
    const why = err instanceof ResourceDecryptionError ? err.message : 'resource is not JSON';
    deps.logger.error(
      { notificationId: notification.id, why },
      'notification resource could not be decrypted',
    );
    throw new Answer(500, 'resource could not be decrypted');
  }
}

/** The use case a notification's event type calls for; other types are acknowledged untouched. */
function apply(deps: NotifyWebhookDeps, notification: Notification): Promise<NotificationOutcome> {
  const { type, id, resource } = notification;
  if (type.startsWith('TRANSACTION.'))
    return deps.payments.applyTransaction(resource as TransactionResource, 'notify');
  if (type.startsWith('REFUND.')) return deps.payments.applyRefund(resource as RefundResource);
  deps.logger.info({ type, notificationId: id }, 'notification type not handled; acknowledged');
  return Promise.resolve('ignored');
}

/** `work`, or a 503 answer (WeChat Pay retries) once `ms` have passed; the work is not stopped. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Answer(503, 'not done within the deadline; retry')), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The answer to a notification that was not applied: its own status when known, else 500 (retry). */
function replyFailed(res: ServerResponse, err: unknown, logger: Logger): void {
  if (err instanceof Answer || err instanceof HttpBodyError) {
    if (err.status >= 500) outcomes.inc({ outcome: err.status === 503 ? 'overloaded_or_timeout' : 'failed' });
    reply(res, err.status, err.message);
    return;
  }
  outcomes.inc({ outcome: 'failed' });
  logger.warn({ err }, 'notification not applied; WeChat Pay will retry');
  reply(res, 500, err instanceof NotDurableError ? err.message : 'not applied; retry');
}
