import type { OrderRecord, RefundEntry } from '../domain/order.js';

/*
 * The storage codec of the orders keyspace (`wxm:payment:{out_trade_no}:order`, one JSON value per
 * order): with the Lua scripts in order-lua.ts, the only code that knows the stored field names.
 *   otn out_trade_no · fp content fingerprint · prepay prepay_id · tx transaction_id ·
 *   payer_total · paid_at · refunded refunded total · refunds {refund_id: {no, amount, at}} ·
 *   created_at · updated_at · v version · pe pending (owed) event ids → kind
 * The field order below is the order records have always been written in, so a new order encodes
 * to the same bytes as before.
 */

/** A refund as stored. */
interface StoredRefund {
  no: string;
  amount: number;
  at: number;
}

/** An order as stored: the fields named alike in both forms, and the stored names of the others. */
interface StoredOrder extends Pick<
  OrderRecord,
  'appid' | 'mchid' | 'openid' | 'amount' | 'currency' | 'description' | 'attach' | 'state'
> {
  otn: string;
  fp: string;
  prepay: string;
  tx?: string;
  payer_total?: number;
  paid_at?: number;
  refunded: number;
  refunds: Record<string, StoredRefund> | [];
  created_at: number;
  updated_at: number;
  v: number;
  pe: Record<string, string> | [];
}

/** The stored JSON of an order. */
export function encodeOrder(order: OrderRecord): string {
  const stored: StoredOrder = {
    otn: order.outTradeNo,
    appid: order.appid,
    mchid: order.mchid,
    openid: order.openid,
    amount: order.amount,
    currency: order.currency,
    description: order.description,
    attach: order.attach,
    fp: order.contentFingerprint,
    prepay: order.prepayId,
    state: order.state,
    ...(order.transactionId === undefined ? {} : { tx: order.transactionId }),
    ...(order.payerTotal === undefined ? {} : { payer_total: order.payerTotal }),
    ...(order.paidAt === undefined ? {} : { paid_at: order.paidAt }),
    refunded: order.refundedTotal,
    refunds: Object.fromEntries(
      Object.entries(order.refunds).map(([id, r]) => [
        id,
        { no: r.outRefundNo, amount: r.amount, at: r.succeededAt },
      ]),
    ),
    created_at: order.createdAt,
    updated_at: order.updatedAt,
    v: order.version,
    pe: order.pendingEvents,
  };
  return JSON.stringify(stored);
}

/**
 * The order stored as `raw`; undefined for none. Lua's cjson writes an emptied map as `[]` or
 * `{}`; both read as an empty map.
 */
export function decodeOrder(raw: string | null | undefined): OrderRecord | undefined {
  if (!raw) return undefined;
  const stored = JSON.parse(raw) as StoredOrder;
  return {
    outTradeNo: stored.otn,
    appid: stored.appid,
    mchid: stored.mchid,
    openid: stored.openid,
    amount: stored.amount,
    currency: stored.currency,
    description: stored.description,
    attach: stored.attach,
    contentFingerprint: stored.fp,
    prepayId: stored.prepay,
    state: stored.state,
    ...(stored.tx === undefined ? {} : { transactionId: stored.tx }),
    ...(stored.payer_total === undefined ? {} : { payerTotal: stored.payer_total }),
    ...(stored.paid_at === undefined ? {} : { paidAt: stored.paid_at }),
    refundedTotal: stored.refunded,
    refunds: Object.fromEntries(Object.entries(mapOf(stored.refunds)).map(([id, r]) => [id, refundOf(r)])),
    createdAt: stored.created_at,
    updatedAt: stored.updated_at,
    version: stored.v,
    pendingEvents: mapOf(stored.pe),
  };
}

function refundOf(stored: StoredRefund): RefundEntry {
  return { outRefundNo: stored.no, amount: stored.amount, succeededAt: stored.at };
}

function mapOf<T>(value: Record<string, T> | [] | undefined | null): Record<string, T> {
  return value && !Array.isArray(value) ? value : {};
}
