import { randomBytes, randomUUID } from 'node:crypto';
import { encryptResource } from '@wxmesh/wechat-pay';
import { wechatTime, type NotificationRecord, type SandboxOrder } from './order.js';
import type { PaySigner } from './signer.js';

/**
 * WeChat Pay's notification retry schedule after a failed delivery (15 steps: 15s/15s/30s/3m/10m/
 * 20m/30m/30m/30m/60m/3h/3h/3h/6h/6h), which the sandbox runs compressed by
 * `SANDBOX_PAY_NOTIFY_TIME_SCALE` (default 0.01: the first retry after 150 ms, the last after 3.6 min).
 */
export const WECHAT_RETRY_SCHEDULE_S = [
  15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/** How long one delivery attempt waits for the merchant's answer. */
const DELIVERY_TIMEOUT_MS = 5_000;

/** One notification to send: its event, its resource (encrypted on the way) and a summary. */
export interface Notification {
  readonly eventType: string;
  readonly resourceType: string;
  readonly resource: unknown;
  readonly summary: string;
  /** The W3C trace context to send along (see the control API's pay step). */
  readonly traceparent?: string;
}

/** The notification body WeChat Pay posts: the resource AEAD-encrypted under the APIv3 key. */
function notificationBody(apiV3Key: string, id: string, createdAt: number, n: Notification): string {
  const encrypted = encryptResource(apiV3Key, JSON.stringify(n.resource), {
    nonce: randomBytes(9).toString('base64url').slice(0, 12),
    associatedData: n.resourceType,
    originalType: n.resourceType,
  });
  return JSON.stringify({
    id,
    create_time: wechatTime(createdAt),
    resource_type: 'encrypt-resource',
    event_type: n.eventType,
    summary: n.summary,
    resource: encrypted,
  });
}

/** One POST of the notification: the merchant's HTTP status, or 0 when there was no answer. */
async function deliver(url: string, headers: Record<string, string>, body: string): Promise<number> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * WeChat Pay's notifier: builds a notification, signs each attempt afresh, delivers it to the
 * order's notify_url and retries on {@link WECHAT_RETRY_SCHEDULE_S} scaled by `timeScale` until
 * answered 2xx or the schedule runs out. `close` stops every pending retry.
 */
export function createNotifier(deps: {
  apiV3Key: string;
  signer: PaySigner;
  now: () => number;
  timeScale: number;
}) {
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  function scheduleRetry(step: number, retry: () => void): void {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        retry();
      },
      WECHAT_RETRY_SCHEDULE_S[step]! * 1000 * deps.timeScale,
    );
    timers.add(timer);
  }

  async function attempt(
    url: string,
    body: string,
    record: NotificationRecord,
    n: Notification,
    step: number,
  ) {
    if (closed) return;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...deps.signer.signedHeaders(body),
      ...(n.traceparent === undefined ? {} : { traceparent: n.traceparent }),
    };
    record.last = { headers, body };
    const status = await deliver(url, headers, body);
    record.attempts.push(status);
    if (status >= 200 && status < 300) {
      record.delivered = true;
      return;
    }
    if (step >= WECHAT_RETRY_SCHEDULE_S.length || closed) return;
    scheduleRetry(step, () => void attempt(url, body, record, n, step + 1));
  }

  return {
    /** Records the notification on the order and starts its delivery (in the background). */
    notify(order: SandboxOrder, notification: Notification): void {
      const id = randomUUID();
      const body = notificationBody(deps.apiV3Key, id, deps.now(), notification);
      const record: NotificationRecord = { id, type: notification.eventType, attempts: [], delivered: false };
      order.notifications.push(record);
      void attempt(String(order.body.notify_url), body, record, notification, 0);
    },
    /** Stops every pending retry; attempts after this send nothing. */
    async close(): Promise<void> {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** The notifier {@link createNotifier} returns. */
export type Notifier = ReturnType<typeof createNotifier>;
