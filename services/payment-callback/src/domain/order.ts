import { createHash } from 'node:crypto';

/** An order's payment state, WeChat Pay's trade_state names. */
export type TradeState = 'CREATED' | 'USERPAYING' | 'PAID' | 'REFUNDED' | 'CLOSED' | 'PAYERROR';

/** One applied refund. */
export interface RefundEntry {
  /** out_refund_no */
  no: string;
  amount: number;
  /** success_time, epoch ms */
  at: number;
}

/**
 * An order as stored in Redis (one JSON value per order). The order's content fields never
 * change after creation; state fields change only through the store's scripts.
 */
export interface OrderRecord {
  otn: string;
  appid: string;
  mchid: string;
  openid: string;
  amount: number;
  currency: string;
  description: string;
  attach: string;
  /** Fingerprint of the order's content: re-creating with the same content is idempotent. */
  fp: string;
  prepay: string;
  state: TradeState;
  tx?: string;
  payer_total?: number;
  paid_at?: number;
  refunded: number;
  refunds: Record<string, RefundEntry>;
  created_at: number;
  updated_at: number;
  /** Bumped by every state change; the events' aggregate_version. */
  v: number;
  /** Event ids owed to Kafka (written with the state change, removed once acknowledged). */
  pe: Record<string, string>;
}

/**
 * An order WeChat Pay can still take payment for: placed and not paid yet, or the payer is in the
 * middle of paying. Only such an order gets wx.requestPayment parameters, and only such an order
 * is reconciled against WeChat Pay.
 */
export function isUnpaid(order: Pick<OrderRecord, 'state'>): boolean {
  return order.state === 'CREATED' || order.state === 'USERPAYING';
}

/** What a CreateJsapiOrder asks for; the fingerprint covers all of it. */
export interface OrderContent {
  appid: string;
  openid: string;
  outTradeNo: string;
  amount: number;
  currency: string;
  description: string;
  attach: string;
  timeExpire?: number;
  goodsTag: string;
  payerClientIp: string;
}

/** The content fingerprint: equal iff every field of the request is equal. */
export function fingerprint(content: OrderContent): string {
  const canonical = JSON.stringify([
    content.appid,
    content.openid,
    content.outTradeNo,
    content.amount,
    content.currency,
    content.description,
    content.attach,
    content.timeExpire ?? 0,
    content.goodsTag,
    content.payerClientIp,
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 32);
}

/** The decrypted resource of a TRANSACTION.* notification (and the order query's answer). */
export interface TransactionResource {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_state: string;
  success_time?: string;
  attach?: string;
  payer?: { openid?: string };
  amount?: { total?: number; payer_total?: number; currency?: string; payer_currency?: string };
}

/** The decrypted resource of a REFUND.* notification. */
export interface RefundResource {
  mchid: string;
  out_trade_no: string;
  transaction_id: string;
  out_refund_no: string;
  refund_id: string;
  refund_status: string;
  success_time?: string;
  amount: { total: number; refund: number; payer_total?: number; payer_refund?: number };
}

/**
 * The fields of a paid transaction that disagree with the recorded order: a notification that
 * names the wrong merchant, app or amount is not applied (it is recorded as an anomaly).
 */
export function transactionMismatches(order: OrderRecord, tx: TransactionResource, mchid: string): string[] {
  const out: string[] = [];
  if (tx.mchid !== mchid || tx.mchid !== order.mchid) out.push('mchid');
  if (tx.appid !== order.appid) out.push('appid');
  if (tx.out_trade_no !== order.otn) out.push('out_trade_no');
  if (tx.amount?.total !== order.amount) out.push('amount_total');
  if ((tx.amount?.currency ?? 'CNY') !== order.currency) out.push('currency');
  if (!tx.transaction_id) out.push('transaction_id');
  return out;
}

/** The fields of a refund that disagree with the recorded order. */
export function refundMismatches(order: OrderRecord, refund: RefundResource, mchid: string): string[] {
  const out: string[] = [];
  if (refund.mchid !== mchid || refund.mchid !== order.mchid) out.push('mchid');
  if (refund.out_trade_no !== order.otn) out.push('out_trade_no');
  if (order.tx !== undefined && refund.transaction_id !== order.tx) out.push('transaction_id');
  if (refund.amount.total !== order.amount) out.push('amount_total');
  if (!(refund.amount.refund > 0) || order.refunded + refund.amount.refund > order.amount)
    out.push('refund_amount');
  return out;
}

/** RFC 3339 (`2018-06-08T10:34:56+08:00`) to epoch ms; undefined when absent or unparsable. */
export function parseWechatTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Epoch ms as WeChat Pay writes times: RFC 3339 in China Standard Time. */
export function formatWechatTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+08:00');
}
