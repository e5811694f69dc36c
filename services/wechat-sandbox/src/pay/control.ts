import { randomBytes } from 'node:crypto';
import type { SandboxRequest, SandboxResponse } from '../http.js';
import { jsonBody } from '../http.js';
import type { PayKeys } from './keys.js';
import type { Notifier } from './notifier.js';
import { payError, transactionOf, wechatTime, type OrderBook } from './order.js';
import type { PaySigner } from './signer.js';

/** What the Pay control endpoints work on. */
export interface PayControlDeps {
  readonly keys: PayKeys;
  readonly orders: OrderBook;
  readonly signer: PaySigner;
  readonly notifier: Notifier;
  readonly now: () => number;
}

/** A transaction_id as WeChat Pay shapes them: `42000`, digits of the time, random hex; 28 characters. */
function newTransactionId(now: number): string {
  return `42000${now.toString().slice(-10)}${randomBytes(7).toString('hex').slice(0, 13)}`.slice(0, 28);
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

/**
 * `POST /sandbox/pay/orders/{otn}/pay` `{notify?, amount_total?, appid?, mchid?}`: the payer paid.
 * The overrides tamper with the notification (anomaly tests); `notify: false` pays silently (only
 * a query shows it: reconciliation).
 */
export function payOrder(deps: PayControlDeps, req: SandboxRequest): SandboxResponse {
  const otn = req.params.otn!;
  const order = deps.orders.get(otn);
  if (!order) return payError(404, 'ORDER_NOT_EXIST', 'no such order in the sandbox');
  if (order.tradeState !== 'NOTPAY') return payError(409, 'ORDERPAID', `order is ${order.tradeState}`);
  const options = jsonBody(req) ?? {};
  order.tradeState = 'SUCCESS';
  order.transactionId = newTransactionId(deps.now());
  order.successTime = wechatTime(deps.now());
  if (options.notify !== false)
    deps.notifier.notify(order, {
      eventType: 'TRANSACTION.SUCCESS',
      resourceType: 'transaction',
      resource: transactionOf(otn, order, options),
      summary: '支付成功',
      traceparent: traceparentOf(req),
    });
  return { body: { transaction_id: order.transactionId } };
}

/** `POST /sandbox/pay/orders/{otn}/refund` `{amount?, out_refund_no?, notify?}`: a successful refund. */
export function refundOrder(deps: PayControlDeps, req: SandboxRequest): SandboxResponse {
  const otn = req.params.otn!;
  const order = deps.orders.get(otn);
  if (!order || (order.tradeState !== 'SUCCESS' && order.tradeState !== 'REFUND'))
    return payError(409, 'NOT_ENOUGH', 'only a paid order can be refunded');
  const options = jsonBody(req) ?? {};
  const total = Number((order.body.amount as { total: number }).total);
  const refundId = `50300${randomBytes(12).toString('hex')}`.slice(0, 29);
  const refund = {
    mchid: deps.keys.mchid,
    out_trade_no: otn,
    transaction_id: order.transactionId,
    out_refund_no: String(options.out_refund_no ?? `R${deps.now()}`),
    refund_id: refundId,
    refund_status: 'SUCCESS',
    success_time: wechatTime(deps.now()),
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
  if (options.notify !== false)
    deps.notifier.notify(order, {
      eventType: 'REFUND.SUCCESS',
      resourceType: 'refund',
      resource: refund,
      summary: '退款成功',
    });
  return { body: { refund_id: refundId } };
}

/** `GET /sandbox/pay/orders/{otn}`: the order, its notifications and their delivery attempts. */
export function showOrder(orders: OrderBook, req: SandboxRequest): SandboxResponse {
  const order = orders.get(req.params.otn!);
  if (!order) return payError(404, 'ORDER_NOT_EXIST', 'no such order in the sandbox');
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
}

/** `POST /sandbox/pay/signer` `{use: "certificate" | "public-key"}`: which key signs from now on. */
export function chooseSigner(signer: PaySigner | undefined, req: SandboxRequest): SandboxResponse {
  const use = jsonBody(req)?.use;
  if (use !== 'certificate' && use !== 'public-key')
    return payError(400, 'PARAM_ERROR', 'use: "certificate" or "public-key"');
  signer?.use(use);
  return { status: 204 };
}
