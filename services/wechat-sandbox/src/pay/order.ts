import type { SandboxResponse } from '../http.js';

/** A notification the sandbox sent for an order, and how its delivery went. */
export interface NotificationRecord {
  readonly id: string;
  readonly type: string;
  /** The HTTP status of each delivery attempt (0: no answer). */
  readonly attempts: number[];
  delivered: boolean;
  /** The last signed notification as sent, for replay tests. */
  last?: { headers: Record<string, string>; body: string };
}

/** A JSAPI order as the sandbox's WeChat Pay keeps it. */
export interface SandboxOrder {
  /** The order request as the merchant sent it. */
  readonly body: Record<string, unknown>;
  /** The request without its notify_url: a repeated order must match it. */
  readonly content: string;
  readonly prepayId: string;
  tradeState: 'NOTPAY' | 'SUCCESS' | 'REFUND' | 'CLOSED';
  transactionId?: string;
  successTime?: string;
  payerTotal?: number;
  readonly refunds: Array<Record<string, unknown>>;
  /** Every notification for this order and how its delivery went. */
  readonly notifications: NotificationRecord[];
}

/** The sandbox's orders by out_trade_no. */
export type OrderBook = Map<string, SandboxOrder>;

/** WeChat Pay's time format: RFC 3339 in China Standard Time (`2024-05-01T12:00:00+08:00`). */
export function wechatTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+08:00');
}

/** A WeChat Pay error answer `{code, message}` (unsigned: the sandbox's control API uses it). */
export function payError(status: number, code: string, message: string): SandboxResponse {
  return { status, body: { code, message } };
}

/** Fields of a paid notification a test may tamper with (anomaly tests). */
export interface TransactionOverrides {
  readonly amount_total?: unknown;
  readonly appid?: unknown;
  readonly mchid?: unknown;
}

/**
 * The order as WeChat Pay's transaction resource shows it (query answer and TRANSACTION.SUCCESS
 * notification), with `overrides` replacing the amount, appid or mchid.
 */
export function transactionOf(otn: string, order: SandboxOrder, overrides: TransactionOverrides = {}) {
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
