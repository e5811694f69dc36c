import type { RedisClient } from '@wxmesh/redis';

/*
 * The Lua scripts of the orders keyspace: with order-codec.ts, the only code that knows the stored
 * field names (see there). Each script changes one order's key atomically, so concurrent
 * notifications for one order (any replica) serialise.
 */

// Empty Lua tables encode as `{}` with cjson's defaults, and decode from `[]`; both are fine for
// the object maps `pe` and `refunds` on the TypeScript side.
const CREATE = `
local raw = redis.call('GET', KEYS[1])
if raw then return {0, raw} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, ARGV[1]}
`;

// Shared by the scripts that change an order: `owe` adds an owed event id (an emptied map, which
// cjson may have decoded from `[]`, becomes a fresh table), `save` writes the order back.
const HELPERS = `
local function owe(rec, eventId, kind)
  if type(rec.pe) ~= 'table' or next(rec.pe) == nil then rec.pe = {} end
  if eventId then rec.pe[eventId] = kind end
end
local function save(rec)
  local out = cjson.encode(rec)
  redis.call('SET', KEYS[1], out)
  return out
end
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
owe(rec, ARGV[5], 'paid')
return {1, save(rec)}
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
owe(rec, ARGV[6], 'refund')
return {1, save(rec)}
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
owe(rec)
return save(rec)
`;

// ARGV: new state (CLOSED, PAYERROR, USERPAYING), now. Only an unpaid order moves.
const UNPAID_STATE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
if rec.state ~= 'CREATED' and rec.state ~= 'USERPAYING' then return raw end
if rec.state == ARGV[1] then return raw end
rec.state = ARGV[1]; rec.updated_at = tonumber(ARGV[2]); rec.v = rec.v + 1
owe(rec)
return save(rec)
`;

// Claims up to ARGV[3] due orders by pushing their time a lease ahead, so sweepers on other
// replicas do not take the same ones.
const CLAIM = `
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
`;

/** The scripts as ioredis commands (defined by {@link defineOrderScripts}). */
export interface OrderScripts {
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

/** A PAY or REFUND script's status code, as {@link ApplyStatus}. */
export const APPLY_STATUS: Record<number, ApplyStatus> = {
  1: 'applied',
  0: 'duplicate',
  [-1]: 'conflict',
  [-2]: 'unknown',
  [-3]: 'over-refund',
};

/** Defines the order scripts as commands on `redis` (once per client). */
export function defineOrderScripts(redis: RedisClient): OrderScripts & RedisClient {
  const scripts: Record<keyof OrderScripts, string> = {
    paymentCreate: CREATE,
    paymentPay: HELPERS + PAY,
    paymentRefund: HELPERS + REFUND,
    paymentSettle: HELPERS + SETTLE,
    paymentUnpaidState: HELPERS + UNPAID_STATE,
    paymentClaim: CLAIM,
  };
  for (const [name, lua] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys: 1 });
  }
  return redis as unknown as OrderScripts & RedisClient;
}
