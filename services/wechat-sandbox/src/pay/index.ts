import {
  createPrivateKey,
  randomBytes,
  randomUUID,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createNonce,
  encryptResource,
  parseAuthorizationHeader,
  requestSignatureMessage,
  responseSignatureMessage,
  rsaSign,
} from '@wxmesh/wechat-pay';
import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { jsonBody } from '../http.js';

/**
 * WeChat Pay's notification retry schedule after a failed delivery (15 steps: 15s/15s/30s/3m/10m/
 * 20m/30m/30m/30m/60m/3h/3h/3h/6h/6h), which the sandbox runs compressed by
 * `SANDBOX_PAY_NOTIFY_TIME_SCALE` (default 0.01: the first retry after 150 ms, the last after 3.6 min).
 */
export const WECHAT_RETRY_SCHEDULE_S = [
  15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

interface SandboxOrder {
  body: Record<string, unknown>;
  content: string;
  prepayId: string;
  tradeState: 'NOTPAY' | 'SUCCESS' | 'REFUND' | 'CLOSED';
  transactionId?: string;
  successTime?: string;
  payerTotal?: number;
  refunds: Array<Record<string, unknown>>;
  /** Every notification for this order and how its delivery went. */
  notifications: Array<{
    id: string;
    type: string;
    attempts: number[];
    delivered: boolean;
    last?: { headers: Record<string, string>; body: string };
  }>;
}

/** Signs and encrypts as WeChat Pay does, with the sandbox's own keys. */
interface PayKeys {
  mchid: string;
  apiV3Key: string;
  merchantKey: KeyObject;
  signers: Record<'certificate' | 'public-key', { id: string; key: KeyObject }>;
}

function loadKeys(env: NodeJS.ProcessEnv): PayKeys | undefined {
  const need = [
    'SANDBOX_PAY_MCHID',
    'SANDBOX_PAY_APIV3_KEY_FILE',
    'SANDBOX_PAY_MERCHANT_CERT_FILE',
    'SANDBOX_PAY_PLATFORM_KEY_FILE',
    'SANDBOX_PAY_PLATFORM_SERIAL',
    'SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE',
    'SANDBOX_PAY_PUBLIC_KEY_ID',
  ];
  if (need.every((k) => !env[k])) return undefined;
  const missing = need.filter((k) => !env[k]);
  if (missing.length > 0) throw new Error(`wechat-sandbox Pay: set ${missing.join(', ')} (or none of them)`);
  const read = (k: string) => readFileSync(env[k]!, 'utf8');
  return {
    mchid: env.SANDBOX_PAY_MCHID!,
    apiV3Key: read('SANDBOX_PAY_APIV3_KEY_FILE').trim().split(/\r?\n/)[0]!.trim(),
    merchantKey: new X509Certificate(read('SANDBOX_PAY_MERCHANT_CERT_FILE')).publicKey,
    signers: {
      certificate: {
        id: env.SANDBOX_PAY_PLATFORM_SERIAL!,
        key: createPrivateKey(read('SANDBOX_PAY_PLATFORM_KEY_FILE')),
      },
      'public-key': {
        id: env.SANDBOX_PAY_PUBLIC_KEY_ID!,
        key: createPrivateKey(read('SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE')),
      },
    },
  };
}

const error = (status: number, code: string, message: string): SandboxResponse => ({
  status,
  body: { code, message },
});

function wechatTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+08:00');
}

/**
 * The WeChat Pay APIv3 side of the sandbox: `POST /v3/pay/transactions/jsapi` and
 * `GET /v3/pay/transactions/out-trade-no/{out_trade_no}` (merchant signature checked, answers
 * signed), and a notifier that signs and AEAD-encrypts TRANSACTION.SUCCESS / REFUND.SUCCESS
 * notifications, delivers them to the order's notify_url and retries on WeChat's schedule,
 * compressed. Keys come from the `SANDBOX_PAY_*` files (payment-callback's scripts/dev-keys.ts
 * writes them); without them every Pay path answers 503.
 *
 * Control endpoints (JSON bodies):
 * - `POST /sandbox/pay/orders/{otn}/pay` `{notify?: true, amount_total?, appid?, mchid?}`: the payer paid;
 *   the overrides tamper with the notification (anomaly tests); `notify: false` pays silently
 *   (only a query shows it: reconciliation).
 * - `POST /sandbox/pay/orders/{otn}/refund` `{amount?, notify?: true}`: a successful refund.
 * - `GET /sandbox/pay/orders/{otn}`: the order, its notifications and their delivery attempts,
 *   and the last signed notification as sent (headers + body) for replay tests.
 * - `POST /sandbox/pay/signer` `{use: "certificate" | "public-key"}`: which key signs from now on.
 */
export function createPayApi(deps: { now: () => number; env: NodeJS.ProcessEnv }): {
  endpoints: Endpoint[];
  close(): Promise<void>;
} {
  const { now, env } = deps;
  const keys = loadKeys(env);
  const scale = Number(env.SANDBOX_PAY_NOTIFY_TIME_SCALE ?? 0.01);
  let signWith: 'certificate' | 'public-key' =
    env.SANDBOX_PAY_SIGN_WITH === 'certificate' ? 'certificate' : 'public-key';
  const orders = new Map<string, SandboxOrder>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  /** Headers of a WeChat Pay signed answer or notification over `body`. */
  function signedHeaders(body: string): Record<string, string> {
    const signer = keys!.signers[signWith];
    const timestamp = String(Math.floor(now() / 1000));
    const nonce = createNonce();
    return {
      'wechatpay-serial': signer.id,
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-signature': rsaSign(signer.key, responseSignatureMessage(timestamp, nonce, body)),
      'request-id': randomUUID(),
    };
  }

  function signed(status: number, value: unknown): SandboxResponse {
    const body = value === undefined ? '' : JSON.stringify(value);
    return {
      status,
      headers: { ...signedHeaders(body), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body || undefined,
    };
  }

  /** Checks the merchant's Authorization as WeChat Pay does; an error answer when it fails. */
  function checkMerchant(req: SandboxRequest): SandboxResponse | undefined {
    const auth = parseAuthorizationHeader(req.headers.authorization);
    if (auth === undefined)
      return signed(401, { code: 'SIGN_ERROR', message: 'Authorization missing or malformed' });
    if (auth.mchid !== keys!.mchid)
      return signed(401, { code: 'SIGN_ERROR', message: 'mchid does not match' });
    if (Math.abs(now() / 1000 - Number(auth.timestamp)) > 300)
      return signed(401, { code: 'SIGN_ERROR', message: 'timestamp expired' });
    const query = req.query.toString();
    const message = requestSignatureMessage({
      method: req.method,
      pathAndQuery: `${req.path}${query ? `?${query}` : ''}`,
      body: req.body,
      timestamp: Number(auth.timestamp),
      nonce: auth.nonce,
    });
    if (!verify('sha256', Buffer.from(message), keys!.merchantKey, Buffer.from(auth.signature, 'base64')))
      return signed(401, { code: 'SIGN_ERROR', message: 'signature does not verify' });
    return undefined;
  }

  function transactionOf(otn: string, order: SandboxOrder, overrides: Record<string, unknown> = {}) {
    const b = order.body as {
      appid: string;
      mchid: string;
      attach?: string;
      amount: { total: number; currency?: string };
      payer: { openid: string };
    };
    const amountTotal = (overrides.amount_total as number | undefined) ?? b.amount.total;
    return {
      appid: (overrides.appid as string | undefined) ?? b.appid,
      mchid: (overrides.mchid as string | undefined) ?? b.mchid,
      out_trade_no: otn,
      ...(order.transactionId ? { transaction_id: order.transactionId } : {}),
      trade_type: 'JSAPI',
      trade_state: order.tradeState,
      trade_state_desc: order.tradeState === 'SUCCESS' ? '支付成功' : order.tradeState,
      ...(order.tradeState === 'SUCCESS' || order.tradeState === 'REFUND'
        ? { bank_type: 'OTHERS', success_time: order.successTime }
        : {}),
      attach: b.attach ?? '',
      payer: { openid: b.payer.openid },
      amount: {
        total: amountTotal,
        payer_total: order.payerTotal ?? amountTotal,
        currency: b.amount.currency ?? 'CNY',
        payer_currency: 'CNY',
      },
    };
  }

  /** Builds, signs (per attempt) and delivers a notification, retrying on the compressed schedule. */
  function notify(
    order: SandboxOrder,
    eventType: string,
    resourceType: string,
    resource: unknown,
    summary: string,
    traceparent?: string,
  ) {
    const id = randomUUID();
    const encrypted = encryptResource(keys!.apiV3Key, JSON.stringify(resource), {
      nonce: randomBytes(9).toString('base64url').slice(0, 12),
      associatedData: resourceType,
      originalType: resourceType,
    });
    const body = JSON.stringify({
      id,
      create_time: wechatTime(now()),
      resource_type: 'encrypt-resource',
      event_type: eventType,
      summary,
      resource: encrypted,
    });
    const record: SandboxOrder['notifications'][number] = {
      id,
      type: eventType,
      attempts: [],
      delivered: false,
    };
    order.notifications.push(record);
    const url = String(order.body.notify_url);
    const attempt = async (step: number) => {
      if (closed) return;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...signedHeaders(body),
        ...(traceparent === undefined ? {} : { traceparent }),
      };
      record.last = { headers, body };
      let status = 0;
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) });
        status = res.status;
        await res.arrayBuffer();
      } catch {
        status = 0;
      }
      record.attempts.push(status);
      if (status >= 200 && status < 300) {
        record.delivered = true;
        return;
      }
      if (step >= WECHAT_RETRY_SCHEDULE_S.length || closed) return;
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          void attempt(step + 1);
        },
        WECHAT_RETRY_SCHEDULE_S[step]! * 1000 * scale,
      );
      timers.add(timer);
    };
    void attempt(0);
  }

  const unconfigured = (): SandboxResponse =>
    error(503, 'SYSTEM_ERROR', 'the sandbox has no Pay keys (SANDBOX_PAY_*)');
  const configured =
    (handler: (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>) =>
    (req: SandboxRequest) => (keys === undefined ? unconfigured() : handler(req));

  const endpoints: Endpoint[] = [
    {
      method: 'POST',
      path: '/v3/pay/transactions/jsapi',
      handler: configured((req) => {
        const denied = checkMerchant(req);
        if (denied) return denied;
        const body = jsonBody(req) as
          | {
              appid?: string;
              mchid?: string;
              description?: string;
              out_trade_no?: string;
              notify_url?: string;
              amount?: { total?: number };
              payer?: { openid?: string };
            }
          | undefined;
        if (
          !body?.appid ||
          !body.mchid ||
          !body.description ||
          !body.out_trade_no ||
          !body.notify_url ||
          !(Number(body.amount?.total) > 0) ||
          !body.payer?.openid
        )
          return signed(400, {
            code: 'PARAM_ERROR',
            message:
              'appid, mchid, description, out_trade_no, notify_url, amount.total, payer.openid are required',
          });
        if (body.mchid !== keys!.mchid)
          return signed(400, { code: 'MCH_NOT_EXISTS', message: 'mchid does not match the caller' });
        const content = JSON.stringify({ ...body, notify_url: undefined });
        const existing = orders.get(body.out_trade_no);
        if (existing) {
          if (existing.content !== content)
            return signed(400, {
              code: 'INVALID_REQUEST',
              message: 'out_trade_no already used with different parameters',
            });
          if (existing.tradeState !== 'NOTPAY')
            return signed(400, { code: 'ORDERPAID', message: 'order already paid' });
          return signed(200, { prepay_id: existing.prepayId });
        }
        const prepayId = `wx${wechatTime(now()).replace(/\D/g, '').slice(0, 14)}${randomBytes(12).toString('hex')}`;
        orders.set(body.out_trade_no, {
          body,
          content,
          prepayId,
          tradeState: 'NOTPAY',
          refunds: [],
          notifications: [],
        });
        return signed(200, { prepay_id: prepayId });
      }),
    },
    {
      method: 'GET',
      path: '/v3/pay/transactions/out-trade-no/{otn}',
      handler: configured((req) => {
        const denied = checkMerchant(req);
        if (denied) return denied;
        if (req.query.get('mchid') !== keys!.mchid)
          return signed(400, { code: 'PARAM_ERROR', message: 'mchid query parameter required' });
        const order = orders.get(req.params.otn!);
        if (!order) return signed(404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' });
        return signed(200, transactionOf(req.params.otn!, order));
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/pay/orders/{otn}/pay',
      handler: configured((req) => {
        const order = orders.get(req.params.otn!);
        if (!order) return error(404, 'ORDER_NOT_EXIST', 'no such order in the sandbox');
        if (order.tradeState !== 'NOTPAY') return error(409, 'ORDERPAID', `order is ${order.tradeState}`);
        const options = jsonBody(req) ?? {};
        order.tradeState = 'SUCCESS';
        order.transactionId =
          `42000${Date.now().toString().slice(-10)}${randomBytes(7).toString('hex').slice(0, 13)}`.slice(
            0,
            28,
          );
        order.successTime = wechatTime(now());
        if (options.notify !== false)
          notify(
            order,
            'TRANSACTION.SUCCESS',
            'transaction',
            transactionOf(req.params.otn!, order, options),
            '支付成功',
            traceparentOf(req),
          );
        return { body: { transaction_id: order.transactionId } };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/pay/orders/{otn}/refund',
      handler: configured((req) => {
        const order = orders.get(req.params.otn!);
        if (!order || (order.tradeState !== 'SUCCESS' && order.tradeState !== 'REFUND'))
          return error(409, 'NOT_ENOUGH', 'only a paid order can be refunded');
        const options = jsonBody(req) ?? {};
        const total = Number((order.body.amount as { total: number }).total);
        const refundId = `50300${randomBytes(12).toString('hex')}`.slice(0, 29);
        const refund = {
          mchid: keys!.mchid,
          out_trade_no: req.params.otn!,
          transaction_id: order.transactionId,
          out_refund_no: String(options.out_refund_no ?? `R${Date.now()}`),
          refund_id: refundId,
          refund_status: 'SUCCESS',
          success_time: wechatTime(now()),
          user_received_account: '支付用户零钱',
          amount: {
            total,
            refund: Number(options.amount ?? total),
            payer_total: total,
            payer_refund: Number(options.amount ?? total),
          },
        };
        order.refunds.push(refund);
        order.tradeState = 'REFUND';
        if (options.notify !== false) notify(order, 'REFUND.SUCCESS', 'refund', refund, '退款成功');
        return { body: { refund_id: refundId } };
      }),
    },
    {
      method: 'GET',
      path: '/sandbox/pay/orders/{otn}',
      handler: (req) => {
        const order = orders.get(req.params.otn!);
        if (!order) return error(404, 'ORDER_NOT_EXIST', 'no such order in the sandbox');
        return {
          body: {
            out_trade_no: req.params.otn,
            trade_state: order.tradeState,
            transaction_id: order.transactionId,
            prepay_id: order.prepayId,
            refunds: order.refunds,
            notifications: order.notifications,
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/sandbox/pay/signer',
      handler: (req) => {
        const use = jsonBody(req)?.use;
        if (use !== 'certificate' && use !== 'public-key')
          return error(400, 'PARAM_ERROR', 'use: "certificate" or "public-key"');
        signWith = use;
        return { status: 204 };
      },
    },
  ];

  return {
    endpoints,
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

/**
 * The W3C trace context of the control call that paid an order. Real WeChat Pay sends none; the
 * sandbox forwards its caller's on the notification, so a local journey's "pay" step (the caller
 * pays, WeChat notifies, payment-callback applies and publishes) is one trace.
 */
function traceparentOf(req: SandboxRequest): string | undefined {
  const value = req.headers.traceparent;
  return typeof value === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value)
    ? value
    : undefined;
}
