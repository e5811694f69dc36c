import { timestampMs } from '@bufbuild/protobuf/wkt';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';

/** The funnel's steps, in order; a user counts once per step per app per day. */
export const FUNNEL_STEPS = ['logged_in', 'phone_bound', 'ordered', 'paid'] as const;
export type FunnelStep = (typeof FUNNEL_STEPS)[number];

/** Counters of a journey, by what they count (logins, sessions started/ended, messages received/failed, orders created/paid, paid total, refunds, refunded total). */
export const JOURNEY_COUNTERS = ['logins', 'ss', 'se', 'mr', 'mf', 'oc', 'op', 'pt', 'rf', 'rt'] as const;
export type JourneyCounter = (typeof JOURNEY_COUNTERS)[number];
/** Flags of a journey that once set stay set. */
export const JOURNEY_FLAGS = ['phone', 'oauth'] as const;
export type JourneyFlag = (typeof JOURNEY_FLAGS)[number];

/** occurred_at's range, as a protobuf Timestamp allows it: 0001-01-01 to 9999-12-31 (epoch ms). */
export const MIN_OCCURRED_AT_MS = -62_135_596_800_000;
export const MAX_OCCURRED_AT_MS = 253_402_300_799_999;

/**
 * What one event does to the read models, computed without I/O. The journey part is applied by
 * one Lua script only when the event is new (dedupe by event_id); the funnel part is a set
 * membership, idempotent by nature, so it is (re)applied every time.
 *
 * Every effect commutes: counters add, flags OR, first seen is a minimum, and "latest" fields
 * (last seen, last event, appid, unionid) go to the greatest (occurred_at, event_id). So the
 * final journey depends on which distinct events were applied, never on their order: a stale
 * consumer finishing a revoked batch, or a rebuild and the live projector both writing a shadow
 * generation, cannot make it differ from a replay in topic order.
 */
export interface Projection {
  openid: string;
  eventId: string;
  /** occurred_at in epoch milliseconds. */
  at: number;
  appid: string;
  unionid: string;
  /** The payload's field name in the BehaviourEvent oneof, e.g. `user_logged_in`. */
  eventType: string;
  incr: ReadonlyArray<readonly [JourneyCounter, number]>;
  /** The flag the event sets, if any. */
  flag?: JourneyFlag;
  funnel?: { appid: string; day: string; step: FunnelStep };
}

/**
 * An event that is valid on the wire but cannot be folded (an openid that is not one, a negative
 * amount). Deterministic: retrying cannot help, so the consumer dead-letters it.
 */
export class PoisonEventError extends Error {
  override readonly name = 'PoisonEventError';
}

const OPENID = /^[0-9A-Za-z_-]{1,128}$/;
const CASE_NAMES: ReadonlyMap<string, string> = new Map(
  BehaviourEventSchema.fields.flatMap((f) => (f.oneof?.name === 'payload' ? [[f.localName, f.name]] : [])),
);
const CST_OFFSET_MS = 8 * 3600_000;

const DAY_MS = 86_400_000;
// Events come in time order, mostly within one day: the last day formatted is reused.
let lastDayNumber = Number.NaN;
let lastDay = '';

/** The funnel day of an instant: its date in China Standard Time (UTC+8), `YYYY-MM-DD`. */
export function cstDay(ms: number): string {
  const dayNumber = Math.floor((ms + CST_OFFSET_MS) / DAY_MS);
  if (dayNumber !== lastDayNumber) {
    lastDay = new Date(ms + CST_OFFSET_MS).toISOString().slice(0, 10);
    lastDayNumber = dayNumber;
  }
  return lastDay;
}

function amount(value: number, field: string, eventId: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new PoisonEventError(
      `event ${eventId}: ${field} must be a non-negative amount in fen, got ${value}`,
    );
  }
  return value;
}

/**
 * Computes what a valid event (as the consumer hands it: decoded and schema-checked) does to the
 * read models. Throws {@link PoisonEventError} for events the read models cannot hold.
 */
export function project(event: BehaviourEvent): Projection {
  const w = event.wechat!;
  if (!OPENID.test(w.openid)) {
    throw new PoisonEventError(
      `event ${event.eventId}: openid ${JSON.stringify(w.openid.slice(0, 140))} is not 1..128 of [0-9A-Za-z_-]`,
    );
  }
  const at = timestampMs(event.occurredAt!);
  if (!(at >= MIN_OCCURRED_AT_MS && at <= MAX_OCCURRED_AT_MS)) {
    throw new PoisonEventError(
      `event ${event.eventId}: occurred_at is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z`,
    );
  }
  const p = event.payload;
  const incr: Array<readonly [JourneyCounter, number]> = [];
  let flag: JourneyFlag | undefined;
  let step: FunnelStep | undefined;
  switch (p.case) {
    case 'userLoggedIn':
      incr.push(['logins', 1]);
      step = 'logged_in';
      break;
    case 'phoneNumberBound':
      flag = 'phone';
      step = 'phone_bound';
      break;
    case 'oauthAuthorized':
      flag = 'oauth';
      break;
    case 'sessionStarted':
      incr.push(['ss', 1]);
      break;
    case 'sessionEnded':
      incr.push(['se', 1]);
      break;
    case 'messageDelivered':
      incr.push(['mr', 1]);
      break;
    case 'messageFailed':
      incr.push(['mf', 1]);
      break;
    case 'orderCreated':
      amount(p.value.amountTotal, 'amount_total', event.eventId);
      incr.push(['oc', 1]);
      step = 'ordered';
      break;
    case 'paymentSucceeded':
      incr.push(['op', 1], ['pt', amount(p.value.payerTotal, 'payer_total', event.eventId)]);
      step = 'paid';
      break;
    case 'refundSucceeded':
      incr.push(['rf', 1], ['rt', amount(p.value.refundAmount, 'refund_amount', event.eventId)]);
      break;
    case 'userOnline':
    case 'userOffline':
    case 'paymentAnomalyDetected':
      break;
    case undefined:
      throw new PoisonEventError(`event ${event.eventId} has no payload`);
  }
  return {
    openid: w.openid,
    eventId: event.eventId,
    at,
    appid: w.appid,
    unionid: w.unionid,
    eventType: CASE_NAMES.get(p.case)!,
    incr,
    flag,
    funnel: step !== undefined && w.appid !== '' ? { appid: w.appid, day: cstDay(at), step } : undefined,
  };
}

/** The inclusive list of `YYYY-MM-DD` days from `start` to `end` (both already validated). */
export function daysBetween(start: string, end: string): string[] {
  const days: string[] = [];
  const last = Date.parse(`${end}T00:00:00Z`);
  for (let t = Date.parse(`${start}T00:00:00Z`); t <= last; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}
