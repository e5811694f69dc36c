import { createHash } from 'node:crypto';

/** An order's payment state, WeChat Pay's trade_state names. */
export type TradeState = 'CREATED' | 'USERPAYING' | 'PAID' | 'REFUNDED' | 'CLOSED' | 'PAYERROR';

/** One applied refund. */
export interface RefundEntry {
  outRefundNo: string;
  amount: number;
  /** When WeChat Pay reports the refund succeeded, epoch ms. */
  succeededAt: number;
}

/**
 * An order as payment-callback keeps it. The order's content fields never change after creation;
 * state fields change only through the store's atomic updates (adapters/order-codec.ts maps it to
 * the stored form).
 */
export interface OrderRecord {
  outTradeNo: string;
  appid: string;
  mchid: string;
  openid: string;
  amount: number;
  currency: string;
  description: string;
  attach: string;
  /** Fingerprint of the order's content: re-creating with the same content is idempotent. */
  contentFingerprint: string;
  prepayId: string;
  state: TradeState;
  transactionId?: string;
  payerTotal?: number;
  paidAt?: number;
  refundedTotal: number;
  /** Applied refunds by refund_id. */
  refunds: Record<string, RefundEntry>;
  createdAt: number;
  updatedAt: number;
  /** Bumped by every state change. */
  version: number;
  /** Event ids owed to Kafka, each with its kind (written with the state change, removed once acknowledged). */
  pendingEvents: Record<string, string>;
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

/**
 * A new order as recorded once WeChat Pay has accepted it: CREATED, version 1, nothing refunded,
 * and its OrderCreated event (`createdEventId`) owed from the same write.
 */
export function newOrder(
  content: OrderContent,
  placed: { mchid: string; prepayId: string; at: number; createdEventId: string },
): OrderRecord {
  return {
    outTradeNo: content.outTradeNo,
    appid: content.appid,
    mchid: placed.mchid,
    openid: content.openid,
    amount: content.amount,
    currency: content.currency,
    description: content.description,
    attach: content.attach,
    contentFingerprint: fingerprint(content),
    prepayId: placed.prepayId,
    state: 'CREATED',
    refundedTotal: 0,
    refunds: {},
    createdAt: placed.at,
    updatedAt: placed.at,
    version: 1,
    pendingEvents: { [placed.createdEventId]: 'created' },
  };
}

/** The ids of the events the order still owes to Kafka. */
export function owedEventIds(order: Pick<OrderRecord, 'pendingEvents'>): string[] {
  return Object.keys(order.pendingEvents);
}

/**
 * True once the sweeper has nothing left to do for the order: no event owed and no payment that
 * could still arrive.
 */
export function isSettled(order: Pick<OrderRecord, 'pendingEvents' | 'state'>): boolean {
  return owedEventIds(order).length === 0 && !isUnpaid(order);
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
  if (tx.out_trade_no !== order.outTradeNo) out.push('out_trade_no');
  if (tx.amount?.total !== order.amount) out.push('amount_total');
  if ((tx.amount?.currency ?? 'CNY') !== order.currency) out.push('currency');
  if (!tx.transaction_id) out.push('transaction_id');
  return out;
}

/** The fields of a refund that disagree with the recorded order. */
export function refundMismatches(order: OrderRecord, refund: RefundResource, mchid: string): string[] {
  const out: string[] = [];
  if (refund.mchid !== mchid || refund.mchid !== order.mchid) out.push('mchid');
  if (refund.out_trade_no !== order.outTradeNo) out.push('out_trade_no');
  if (order.transactionId !== undefined && refund.transaction_id !== order.transactionId)
    out.push('transaction_id');
  if (refund.amount.total !== order.amount) out.push('amount_total');
  if (!(refund.amount.refund > 0) || order.refundedTotal + refund.amount.refund > order.amount)
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
