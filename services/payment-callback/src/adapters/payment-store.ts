import type { RedisClient } from '@wxmesh/redis';
import type { OrderRecord, RefundEntry } from '../domain/order.js';
import type { UnpaidState } from '../domain/reconciliation.js';
import { decodeOrder, encodeOrder } from './order-codec.js';
import { APPLY_STATUS, defineOrderScripts, type ApplyStatus, type OrderScripts } from './order-lua.js';

/**
 * The payment-callback keyspace (`wxm:payment:`). An order's keys carry its out_trade_no as a
 * hash tag, so each script touches keys of one Redis Cluster slot.
 */
export const keys = {
  /** STRING: the order's JSON (see order-codec.ts). */
  order: (outTradeNo: string) => `wxm:payment:{${outTradeNo}}:order`,
  /** HASH anomaly key → JSON of a notification that disagreed with the order. */
  anomalies: (outTradeNo: string) => `wxm:payment:{${outTradeNo}}:anomalies`,
  /** STRING: a notification nonce seen in the replay window → fingerprint of what it signed. */
  nonce: (nonce: string) => `wxm:payment:nonce:${nonce}`,
  /** ZSET out_trade_no → when the sweeper should next look at the order (reconcile, owed events). */
  due: 'wxm:payment:due',
};

type ScriptedRedis = OrderScripts & RedisClient;

const applyResult = ([status, raw]: [number, string]): ApplyResult => ({
  status: APPLY_STATUS[status]!,
  order: decodeOrder(raw),
});

/** How a pay or refund update ended, with the order as it stands after it. */
export interface ApplyResult {
  status: ApplyStatus;
  order: OrderRecord | undefined;
}

/**
 * The orders: every state change is one Lua script on the order's key, so concurrent
 * notifications for one order (any replica) serialise, and the change and the events it owes are
 * written together: a crash after the write leaves the owed event ids in the order, and the next
 * delivery or the sweeper emits them.
 */
function orderCommands(redis: ScriptedRedis) {
  const key = keys.order;
  const get = async (outTradeNo: string) => decodeOrder(await redis.get(key(outTradeNo)));
  return {
    get,

    /** Stores a new order; when one exists already, returns it unchanged with `created: false`. */
    async create(order: OrderRecord): Promise<{ created: boolean; order: OrderRecord }> {
      const [created, raw] = await redis.paymentCreate(key(order.outTradeNo), encodeOrder(order));
      return { created: created === 1, order: decodeOrder(raw)! };
    },

    /** Marks an order paid by `transactionId` (once); the PaymentSucceeded id is owed in the same write. */
    async pay(
      outTradeNo: string,
      payment: { transactionId: string; payerTotal: number; paidAt: number },
      now: number,
      eventId: string,
    ): Promise<ApplyResult> {
      const { transactionId, payerTotal, paidAt } = payment;
      return applyResult(
        await redis.paymentPay(key(outTradeNo), transactionId, payerTotal, paidAt, now, eventId),
      );
    },

    /** Applies a refund (once per refund_id); the RefundSucceeded id is owed in the same write. */
    async refund(
      outTradeNo: string,
      refundId: string,
      entry: RefundEntry,
      now: number,
      eventId: string,
    ): Promise<ApplyResult> {
      const { amount, outRefundNo, succeededAt } = entry;
      const refunded = redis.paymentRefund(
        key(outTradeNo),
        refundId,
        amount,
        outRefundNo,
        succeededAt,
        now,
        eventId,
      );
      return applyResult(await refunded);
    },

    /** Kafka acknowledged these events: they are no longer owed. */
    async settle(outTradeNo: string, eventIds: string[]): Promise<OrderRecord | undefined> {
      if (eventIds.length === 0) return get(outTradeNo);
      return decodeOrder(await redis.paymentSettle(key(outTradeNo), ...eventIds));
    },

    /** Moves an unpaid order to CLOSED / PAYERROR / USERPAYING (as WeChat Pay reports it). */
    async setUnpaidState(outTradeNo: string, state: UnpaidState, now: number) {
      return decodeOrder(await redis.paymentUnpaidState(key(outTradeNo), state, now));
    },
  };
}

/** Notifications that disagreed with their order, kept per order for operators. */
function anomalyCommands(redis: RedisClient) {
  return {
    /**
     * Records a notification that disagreed with its order, once per key; true when this call
     * recorded it (the caller then counts it in the alert metric).
     */
    async recordAnomaly(outTradeNo: string, key: string, detail: unknown): Promise<boolean> {
      return (await redis.hsetnx(keys.anomalies(outTradeNo), key, JSON.stringify(detail))) === 1;
    },
  };
}

/** Notification nonces seen within the replay window. */
function nonceCommands(redis: RedisClient) {
  return {
    /**
     * Remembers a notification nonce for `windowMs` with a fingerprint of what it signed. Returns
     * false when the nonce was already used for something else (a replay of a nonce with other
     * content); the same nonce with the same content is a redelivery and passes.
     */
    async claimNonce(nonce: string, contentFingerprint: string, windowMs: number): Promise<boolean> {
      const key = keys.nonce(nonce);
      const set = await redis.set(key, contentFingerprint, 'PX', windowMs, 'NX');
      if (set === 'OK') return true;
      return (await redis.get(key)) === contentFingerprint;
    },
  };
}

/** The sweeper's schedule: when each order is next due. */
function scheduleCommands(redis: ScriptedRedis) {
  return {
    /** Asks the sweeper to look at an order at `at` (epoch ms). */
    async schedule(outTradeNo: string, at: number): Promise<void> {
      await redis.zadd(keys.due, at, outTradeNo);
    },

    /** Takes an order off the sweeper's schedule. */
    async unschedule(outTradeNo: string): Promise<void> {
      await redis.zrem(keys.due, outTradeNo);
    },

    /** Claims due orders, leasing each until `leaseUntil` so other replicas' sweepers skip them. */
    async claimDue(now: number, leaseUntil: number, limit: number): Promise<string[]> {
      return redis.paymentClaim(keys.due, now, leaseUntil, limit);
    },
  };
}

/** payment-callback's Redis keyspace: orders, anomalies, notification nonces and the sweep schedule. */
export function createPaymentStore(redis: RedisClient) {
  const scripted = defineOrderScripts(redis);
  return {
    ...orderCommands(scripted),
    ...anomalyCommands(redis),
    ...nonceCommands(redis),
    ...scheduleCommands(scripted),
  };
}

export type PaymentStore = ReturnType<typeof createPaymentStore>;
