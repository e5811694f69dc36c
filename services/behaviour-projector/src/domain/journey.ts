import { JOURNEY_COUNTERS, type FunnelStep, type JourneyCounter, type JourneyFlag } from './projection.js';

/** A user's journey as the read models hold it; an unknown user's is {@link emptyJourney}. */
export interface Journey {
  /** Epoch ms of the earliest event. */
  firstSeenAt?: number;
  /** The latest event, by (occurred_at, event_id). */
  lastEvent?: { at: number; eventId: string; eventType: string };
  /** The appid of the latest event that had one ('' if none). */
  appid: string;
  /** The unionid of the latest event that had one ('' if none). */
  unionid: string;
  flags: ReadonlySet<JourneyFlag>;
  counters: Readonly<Record<JourneyCounter, bigint>>;
}

/** Unique users per funnel step for one day. */
export type FunnelCounts = { day: string } & Record<FunnelStep, number>;

/** The journey of a user the read models never saw: no times, no flags, every counter zero. */
export function emptyJourney(): Journey {
  return { appid: '', unionid: '', flags: new Set(), counters: zeroCounters() };
}

/** Every journey counter at zero. */
export function zeroCounters(): Record<JourneyCounter, bigint> {
  return Object.fromEntries(JOURNEY_COUNTERS.map((c) => [c, 0n])) as Record<JourneyCounter, bigint>;
}

/** A day of the funnel in which nobody reached any step. */
export function emptyFunnelDay(day: string): FunnelCounts {
  return { day, logged_in: 0, phone_bound: 0, ordered: 0, paid: 0 };
}
