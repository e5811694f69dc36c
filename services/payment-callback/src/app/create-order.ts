import { Code, ConnectError } from '@connectrpc/connect';
import { WechatPayApiError, type JsapiOrderRequest } from '../adapters/wechat-pay-api.js';
import { eventIds } from '../domain/events.js';
import {
  fingerprint,
  formatWechatTime,
  newOrder,
  type OrderContent,
  type OrderRecord,
} from '../domain/order.js';
import type { PaymentDeps } from './deps.js';
import { flushOwedEvents } from './owed-events.js';

/**
 * Places a JSAPI order at WeChat Pay and records it; resolves with the order (its prepay_id is
 * what wx.requestPayment needs). The same out_trade_no with the same content is idempotent and
 * answers the recorded order; with other content it is AlreadyExists. WeChat Pay refusing the
 * order is FailedPrecondition (4xx it will repeat) or Unavailable. OrderCreated not acknowledged by
 * Kafka does not fail the call: the order stands, and the sweeper emits the event later.
 */
export async function createOrder(
  deps: PaymentDeps,
  content: OrderContent,
  signal?: AbortSignal,
): Promise<OrderRecord> {
  const { store, now } = deps;
  const contentFingerprint = fingerprint(content);
  const existing = await store.get(content.outTradeNo);
  if (existing !== undefined) return sameOrderOrFail(existing, contentFingerprint);
  const prepayId = await placeAtWechatPay(deps, content, signal);
  const at = now();
  // Scheduled before it exists, so a crash between the two cannot leave an order no sweeper sees.
  await store.schedule(content.outTradeNo, at + deps.reconcileAfterMs);
  const placed = { mchid: deps.mchid, prepayId, at, createdEventId: eventIds.created(content.outTradeNo) };
  const { created, order } = await store.create(newOrder(content, placed));
  if (!created) return sameOrderOrFail(order, contentFingerprint);
  try {
    await flushOwedEvents(deps, order);
  } catch (err) {
    deps.logger.warn(
      { err, outTradeNo: order.outTradeNo },
      'OrderCreated not acknowledged yet; the sweeper retries',
    );
  }
  return order;
}

/** `existing` when it was created from the same content, else AlreadyExists. */
function sameOrderOrFail(existing: OrderRecord, contentFingerprint: string): OrderRecord {
  if (existing.contentFingerprint !== contentFingerprint)
    throw new ConnectError(
      `out_trade_no ${existing.outTradeNo} already names a different order; use a new out_trade_no`,
      Code.AlreadyExists,
    );
  return existing;
}

/** The `/v3/pay/transactions/jsapi` request for `content`: optional fields only when given. */
export function jsapiOrderRequest(
  content: OrderContent,
  mchid: string,
  notifyUrl: string,
): JsapiOrderRequest {
  return {
    appid: content.appid,
    mchid,
    description: content.description,
    out_trade_no: content.outTradeNo,
    ...(content.timeExpire ? { time_expire: formatWechatTime(content.timeExpire) } : {}),
    ...(content.attach ? { attach: content.attach } : {}),
    notify_url: notifyUrl,
    ...(content.goodsTag ? { goods_tag: content.goodsTag } : {}),
    amount: { total: content.amount, currency: content.currency },
    payer: { openid: content.openid },
    ...(content.payerClientIp ? { scene_info: { payer_client_ip: content.payerClientIp } } : {}),
  };
}

/** The prepay_id WeChat Pay gives the order; its refusal as a ConnectError the caller can act on. */
async function placeAtWechatPay(
  deps: PaymentDeps,
  content: OrderContent,
  signal?: AbortSignal,
): Promise<string> {
  try {
    return await deps.api.createJsapiOrder(jsapiOrderRequest(content, deps.mchid, deps.notifyUrl), signal);
  } catch (err) {
    if (!(err instanceof WechatPayApiError)) throw err;
    const code = err.status === 400 || err.status === 403 ? Code.FailedPrecondition : Code.Unavailable;
    throw new ConnectError(`WeChat Pay refused the order: ${err.code} ${err.message}`, code);
  }
}
