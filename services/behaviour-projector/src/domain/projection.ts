import { timestampMs } from '@bufbuild/protobuf/wkt';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import { cstDay } from './calendar.js';

/** The funnel's steps, in order; a user counts once per step per app per day. */
export const FUNNEL_STEPS = ['logged_in', 'phone_bound', 'ordered', 'paid'] as const;
export type FunnelStep = (typeof FUNNEL_STEPS)[number];

/** Counters of a journey; amounts (`paidTotal`, `refundedTotal`) are in fen. */
export const JOURNEY_COUNTERS = [
  'logins',
  'sessionsStarted',
  'sessionsEnded',
  'messagesReceived',
  'messagesFailed',
  'ordersCreated',
  'ordersPaid',
  'paidTotal',
  'refunds',
  'refundedTotal',
] as const;
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
  /** What the event adds to each counter it moves. */
  increments: ReadonlyArray<readonly [JourneyCounter, number]>;
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
function amount(value: number, field: string, eventId: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new PoisonEventError(
      `event ${eventId}: ${field} must be a non-negative amount in fen, got ${value}`,
    );
  }
  return value;
}

/** What an event's payload adds to the journey and the funnel. */
interface Effect {
  increments: Array<readonly [JourneyCounter, number]>;
  flag?: JourneyFlag;
  step?: FunnelStep;
}

/** The effect of an event's payload on the read models; amounts are checked here. */
function effectOf(event: BehaviourEvent): Effect {
  const p = event.payload;
  switch (p.case) {
    case 'userLoggedIn':
      return { increments: [['logins', 1]], step: 'logged_in' };
    case 'phoneNumberBound':
      return { increments: [], flag: 'phone', step: 'phone_bound' };
    case 'oauthAuthorized':
      return { increments: [], flag: 'oauth' };
    case 'sessionStarted':
      return { increments: [['sessionsStarted', 1]] };
    case 'sessionEnded':
      return { increments: [['sessionsEnded', 1]] };
    case 'messageDelivered':
      return { increments: [['messagesReceived', 1]] };
    case 'messageFailed':
      return { increments: [['messagesFailed', 1]] };
    case 'orderCreated':
      amount(p.value.amountTotal, 'amount_total', event.eventId);
      return { increments: [['ordersCreated', 1]], step: 'ordered' };
    case 'paymentSucceeded': {
      const paid = amount(p.value.payerTotal, 'payer_total', event.eventId);
      return {
        increments: [
          ['ordersPaid', 1],
          ['paidTotal', paid],
        ],
        step: 'paid',
      };
    }
    case 'refundSucceeded': {
      const refunded = amount(p.value.refundAmount, 'refund_amount', event.eventId);
      return {
        increments: [
          ['refunds', 1],
          ['refundedTotal', refunded],
        ],
      };
    }
    case undefined:
      throw new PoisonEventError(`event ${event.eventId} has no payload`);
    default:
      // userOnline, userOffline, paymentAnomalyDetected and the other types move only the times
      // and the last event.
      return { increments: [] };
  }
}

/** occurred_at in epoch ms, checked against the range a Timestamp documents. */
function occurredAtMs(event: BehaviourEvent): number {
  const at = timestampMs(event.occurredAt!);
  if (!(at >= MIN_OCCURRED_AT_MS && at <= MAX_OCCURRED_AT_MS)) {
    throw new PoisonEventError(
      `event ${event.eventId}: occurred_at is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999Z`,
    );
  }
  return at;
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
  const at = occurredAtMs(event);
  const { increments, flag, step } = effectOf(event);
  return {
    openid: w.openid,
    eventId: event.eventId,
    at,
    appid: w.appid,
    unionid: w.unionid,
    eventType: CASE_NAMES.get(event.payload.case!)!,
    increments,
    flag,
    funnel: step !== undefined && w.appid !== '' ? { appid: w.appid, day: cstDay(at), step } : undefined,
  };
}
