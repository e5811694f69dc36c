import type { Redis } from 'ioredis';
import type { OrderRecord, RefundEntry } from '../domain/order.js';

/**
 * The payment-callback keyspace (`wxm:payment:`). An order's keys carry its out_trade_no as a
 * hash tag, so each script touches keys of one Redis Cluster slot.
 */
export const keys = {
  /** STRING: the OrderRecord JSON. */
  order: (otn: string) => `wxm:payment:{${otn}}:order`,
  /** HASH anomaly key → JSON of a notification that disagreed with the order. */
  anomalies: (otn: string) => `wxm:payment:{${otn}}:anomalies`,
  /** STRING: a notification nonce seen in the replay window → fingerprint of what it signed. */
  nonce: (nonce: string) => `wxm:payment:nonce:${nonce}`,
  /** ZSET out_trade_no → when the sweeper should next look at the order (reconcile, owed events). */
  due: 'wxm:payment:due',
};

// Empty Lua tables encode as `{}` with cjson's defaults, and decode from `[]`; both are fine for
// the object maps `pe` and `refunds` on the TypeScript side.
const CREATE = `
local raw = redis.call('GET', KEYS[1])
if raw then return {0, raw} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, ARGV[1]}
`;

// ARGV: transaction_id, payer_total, paid_at, now, event id.
// Returns {status, record}: 1 applied now, 0 already applied (same transaction), -1 paid by
// another transaction, -2 unknown order.
const PAY = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {-2, ''} end
local rec = cjson.decode(raw)
if rec.state == 'PAID' or rec.state == 'REFUNDED' then
  if rec.tx == ARGV[1] then return {0, raw} end
  return {-1, raw}
end
rec.state = 'PAID'; rec.tx = ARGV[1]; rec.payer_total = tonumber(ARGV[2]); rec.paid_at = tonumber(ARGV[3])
rec.updated_at = tonumber(ARGV[4]); rec.v = rec.v + 1
if type(rec.pe) ~= 'table' or next(rec.pe) == nil then rec.pe = {} end
rec.pe[ARGV[5]] = 'paid'
local out = cjson.encode(rec)
redis.call('SET', KEYS[1], out)
return {1, out}
`;

// ARGV: refund_id, amount, out_refund_no, at, now, event id. Status as PAY's; -1 = the order is
// not paid, -3 = it would refund more than was paid.
const REFUND = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {-2, ''} end
local rec = cjson.decode(raw)
if type(rec.refunds) ~= 'table' or next(rec.refunds) == nil then rec.refunds = {} end
if rec.refunds[ARGV[1]] then return {0, raw} end
if rec.state ~= 'PAID' and rec.state ~= 'REFUNDED' then return {-1, raw} end
local amount = tonumber(ARGV[2])
if rec.refunded + amount > rec.amount then return {-3, raw} end
rec.refunds[ARGV[1]] = { no = ARGV[3], amount = amount, at = tonumber(ARGV[4]) }
rec.refunded = rec.refunded + amount
rec.state = 'REFUNDED'; rec.updated_at = tonumber(ARGV[5]); rec.v = rec.v + 1
if type(rec.pe) ~= 'table' or next(rec.pe) == nil then rec.pe = {} end
rec.pe[ARGV[6]] = 'refund'
local out = cjson.encode(rec)
redis.call('SET', KEYS[1], out)
return {1, out}
`;

// ARGV: event ids acknowledged by Kafka.
const SETTLE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
if type(rec.pe) ~= 'table' then return raw end
local changed = false
for i = 1, #ARGV do if rec.pe[ARGV[i]] then rec.pe[ARGV[i]] = nil; changed = true end end
if not changed then return raw end
if next(rec.pe) == nil then rec.pe = {} end
local out = cjson.encode(rec)
redis.call('SET', KEYS[1], out)
return out
`;

// ARGV: new state (CLOSED, PAYERROR, USERPAYING), now. Only an unpaid order moves.
const UNPAID_STATE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
if rec.state ~= 'CREATED' and rec.state ~= 'USERPAYING' then return raw end
if rec.state == ARGV[1] then return raw end
rec.state = ARGV[1]; rec.updated_at = tonumber(ARGV[2]); rec.v = rec.v + 1
if type(rec.pe) ~= 'table' or next(rec.pe) == nil then rec.pe = {} end
local out = cjson.encode(rec)
redis.call('SET', KEYS[1], out)
return out
`;

// Claims up to ARGV[3] due orders by pushing their time a lease ahead, so sweepers on other
// replicas do not take the same ones.
const CLAIM = `
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
`;

interface Scripts {
  paymentCreate(key: string, record: string): Promise<[number, string]>;
  paymentPay(
    key: string,
    tx: string,
    payerTotal: number,
    paidAt: number,
    now: number,
    eventId: string,
  ): Promise<[number, string]>;
  paymentRefund(
    key: string,
    refundId: string,
    amount: number,
    no: string,
    at: number,
    now: number,
    eventId: string,
  ): Promise<[number, string]>;
  paymentSettle(key: string, ...eventIds: string[]): Promise<string | null>;
  paymentUnpaidState(key: string, state: string, now: number): Promise<string | null>;
  paymentClaim(key: string, now: number, leaseUntil: number, limit: number): Promise<string[]>;
}

/** How a PAY or REFUND script ended. */
export type ApplyStatus = 'applied' | 'duplicate' | 'conflict' | 'unknown' | 'over-refund';

const STATUS: Record<number, ApplyStatus> = {
  1: 'applied',
  0: 'duplicate',
  [-1]: 'conflict',
  [-2]: 'unknown',
  [-3]: 'over-refund',
};

/**
 * Orders in Redis. Every state change is one Lua script on the order's key, so concurrent
 * notifications for one order (any replica) serialise, and the change and the events it owes are
 * written together: a crash after the write leaves the owed event ids in the record, and the
 * next delivery or the sweeper emits them.
 */
export function createPaymentStore(redis: Redis) {
  const scripts: Record<keyof Scripts, string> = {
    paymentCreate: CREATE,
    paymentPay: PAY,
    paymentRefund: REFUND,
    paymentSettle: SETTLE,
    paymentUnpaidState: UNPAID_STATE,
    paymentClaim: CLAIM,
  };
  for (const [name, lua] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys: 1 });
  }
  const r = redis as unknown as Scripts & Redis;
  const parse = (raw: string | null | undefined): OrderRecord | undefined =>
    raw ? (JSON.parse(raw) as OrderRecord) : undefined;

  return {
    async get(otn: string): Promise<OrderRecord | undefined> {
      return parse(await r.get(keys.order(otn)));
    },

    /** Stores a new order; when one exists already, returns it unchanged with `created: false`. */
    async create(record: OrderRecord): Promise<{ created: boolean; record: OrderRecord }> {
      const [created, raw] = await r.paymentCreate(keys.order(record.otn), JSON.stringify(record));
      return { created: created === 1, record: parse(raw)! };
    },

    /** Marks an order paid by `tx` (once); the PaymentSucceeded id becomes owed in the same write. */
    async pay(otn: string, tx: string, payerTotal: number, paidAt: number, now: number, eventId: string) {
      const [status, raw] = await r.paymentPay(keys.order(otn), tx, payerTotal, paidAt, now, eventId);
      return { status: STATUS[status]!, record: parse(raw) };
    },

    /** Applies a refund (once per refund_id); the RefundSucceeded id becomes owed in the same write. */
    async refund(otn: string, refundId: string, entry: RefundEntry, now: number, eventId: string) {
      const [status, raw] = await r.paymentRefund(
        keys.order(otn),
        refundId,
        entry.amount,
        entry.no,
        entry.at,
        now,
        eventId,
      );
      return { status: STATUS[status]!, record: parse(raw) };
    },

    /** Kafka acknowledged these events: they are no longer owed. */
    async settle(otn: string, eventIds: string[]): Promise<OrderRecord | undefined> {
      if (eventIds.length === 0) return this.get(otn);
      return parse(await r.paymentSettle(keys.order(otn), ...eventIds));
    },

    /** Moves an unpaid order to CLOSED / PAYERROR / USERPAYING (as WeChat Pay reports it). */
    async setUnpaidState(otn: string, state: 'CLOSED' | 'PAYERROR' | 'USERPAYING', now: number) {
      return parse(await r.paymentUnpaidState(keys.order(otn), state, now));
    },

    /**
     * Records a notification that disagreed with its order, once per key; true when this call
     * recorded it (the caller then counts it in the alert metric).
     */
    async recordAnomaly(otn: string, key: string, detail: unknown): Promise<boolean> {
      return (await r.hsetnx(keys.anomalies(otn), key, JSON.stringify(detail))) === 1;
    },

    /** The anomalies recorded for an order. */
    async anomalies(otn: string): Promise<Record<string, unknown>> {
      const raw = await r.hgetall(keys.anomalies(otn));
      return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v) as unknown]));
    },

    /**
     * Remembers a notification nonce for `windowMs` with a fingerprint of what it signed. Returns
     * false when the nonce was already used for something else (a replay of a nonce with other
     * content); the same nonce with the same content is a redelivery and passes.
     */
    async claimNonce(nonce: string, contentFingerprint: string, windowMs: number): Promise<boolean> {
      const key = keys.nonce(nonce);
      const set = await r.set(key, contentFingerprint, 'PX', windowMs, 'NX');
      if (set === 'OK') return true;
      return (await r.get(key)) === contentFingerprint;
    },

    /** Asks the sweeper to look at an order at `at` (epoch ms). */
    async schedule(otn: string, at: number): Promise<void> {
      await r.zadd(keys.due, at, otn);
    },

    async unschedule(otn: string): Promise<void> {
      await r.zrem(keys.due, otn);
    },

    /** Claims due orders, leasing each until `leaseUntil`. */
    async claimDue(now: number, leaseUntil: number, limit: number): Promise<string[]> {
      return r.paymentClaim(keys.due, now, leaseUntil, limit);
    },
  };
}

export type PaymentStore = ReturnType<typeof createPaymentStore>;
