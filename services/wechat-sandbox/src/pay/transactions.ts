import { randomBytes } from 'node:crypto';
import type { SandboxRequest, SandboxResponse } from '../http.js';
import { jsonBody } from '../http.js';
import type { PayKeys } from './keys.js';
import { transactionOf, wechatTime, type OrderBook } from './order.js';
import type { PaySigner } from './signer.js';

/** What the WeChat Pay API endpoints work on: the keys, the orders, the signer and the clock. */
export interface TransactionsDeps {
  readonly keys: PayKeys;
  readonly orders: OrderBook;
  readonly signer: PaySigner;
  readonly now: () => number;
}

/** A JSAPI order request, with the fields the sandbox checks typed. */
type JsapiOrderRequest = Record<string, unknown> & {
  appid?: string;
  mchid?: string;
  description?: string;
  out_trade_no?: string;
  notify_url?: string;
  amount?: { total?: number };
  payer?: { openid?: string };
};

function isComplete(
  body: JsapiOrderRequest | undefined,
): body is JsapiOrderRequest & { out_trade_no: string } {
  return Boolean(
    body?.appid &&
    body.mchid &&
    body.description &&
    body.out_trade_no &&
    body.notify_url &&
    Number(body.amount?.total) > 0 &&
    body.payer?.openid,
  );
}

/** A prepay_id as WeChat Pay shapes them: `wx`, the CST time to the second, random hex. */
function newPrepayId(now: number): string {
  return `wx${wechatTime(now).replace(/\D/g, '').slice(0, 14)}${randomBytes(12).toString('hex')}`;
}

/**
 * `POST /v3/pay/transactions/jsapi`: a new order's prepay_id. The same out_trade_no again returns
 * its prepay_id while unpaid with the same parameters; different parameters or a paid order are
 * refused, as WeChat Pay does.
 */
export function createJsapiOrder(deps: TransactionsDeps, req: SandboxRequest): SandboxResponse {
  const { keys, orders, signer } = deps;
  const denied = signer.checkMerchant(req);
  if (denied) return denied;
  const body = jsonBody(req) as JsapiOrderRequest | undefined;
  if (!isComplete(body))
    return signer.signed(400, {
      code: 'PARAM_ERROR',
      message: 'appid, mchid, description, out_trade_no, notify_url, amount.total, payer.openid are required',
    });
  if (body.mchid !== keys.mchid)
    return signer.signed(400, { code: 'MCH_NOT_EXISTS', message: 'mchid does not match the caller' });
  const content = JSON.stringify({ ...body, notify_url: undefined });
  const existing = orders.get(body.out_trade_no);
  if (existing) {
    if (existing.content !== content)
      return signer.signed(400, {
        code: 'INVALID_REQUEST',
        message: 'out_trade_no already used with different parameters',
      });
    if (existing.tradeState !== 'NOTPAY')
      return signer.signed(400, { code: 'ORDERPAID', message: 'order already paid' });
    return signer.signed(200, { prepay_id: existing.prepayId });
  }
  const prepayId = newPrepayId(deps.now());
  orders.set(body.out_trade_no, {
    body,
    content,
    prepayId,
    tradeState: 'NOTPAY',
    refunds: [],
    notifications: [],
  });
  return signer.signed(200, { prepay_id: prepayId });
}

/** `GET /v3/pay/transactions/out-trade-no/{otn}?mchid=`: the order as a transaction resource. */
export function queryOrder(deps: TransactionsDeps, req: SandboxRequest): SandboxResponse {
  const { keys, orders, signer } = deps;
  const denied = signer.checkMerchant(req);
  if (denied) return denied;
  if (req.query.get('mchid') !== keys.mchid)
    return signer.signed(400, { code: 'PARAM_ERROR', message: 'mchid query parameter required' });
  const order = orders.get(req.params.otn!);
  if (!order) return signer.signed(404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' });
  return signer.signed(200, transactionOf(req.params.otn!, order));
}
