// The journey hash's storage codec: the only code that knows its short field names. Besides
// `openid` and one `e:<event_id>` marker (value: the event's sort key) per applied event within the
// dedupe window (see DEDUPE_LUA in apply-script-parts.ts), a journey holds `first` (a sort key),
// `le`, `a`, `u` (each `<sort key><event_id> <event type | appid | unionid>`, so what decides
// "later" is stored with the value it guards), the flags (`phone`, `oauth`: '1') and the counters
// under the short names of COUNTER_FIELDS. The apply scripts (chunk-codec.ts) write the same names.
import {
  JOURNEY_COUNTERS,
  JOURNEY_FLAGS,
  MAX_OCCURRED_AT_MS,
  MIN_OCCURRED_AT_MS,
  type JourneyCounter,
  type JourneyFlag,
} from '../domain/projection.js';
import type { Journey } from '../domain/journey.js';

/**
 * The journey hash layout this code reads and writes. Each generation records the layout it was
 * built with (no record means 1, the layout before composite fields). A projector never writes
 * into, nor reads from, a generation of another layout: a rebuild replays the topic into a new
 * generation of this layout.
 */
export const JOURNEY_LAYOUT = '2';

/** Each counter's field in the journey hash. */
export const COUNTER_FIELDS: Readonly<Record<JourneyCounter, string>> = {
  logins: 'logins',
  sessionsStarted: 'ss',
  sessionsEnded: 'se',
  messagesReceived: 'mr',
  messagesFailed: 'mf',
  ordersCreated: 'oc',
  ordersPaid: 'op',
  paidTotal: 'pt',
  refunds: 'rf',
  refundedTotal: 'rt',
};

/** Each flag's field in the journey hash (set to '1'). */
export const FLAG_FIELDS: Readonly<Record<JourneyFlag, string>> = { phone: 'phone', oauth: 'oauth' };

/**
 * The prefix of an applied event's marker field, `e:<event_id>`, whose value is the event's sort
 * key (markers written before the dedupe window was bounded hold '1').
 */
export const APPLIED_MARK = 'e:';

/** The fields a journey is read from, in the order {@link decodeJourney} takes their values. */
export const JOURNEY_FIELDS: readonly string[] = [
  'first',
  'le',
  'a',
  'u',
  ...JOURNEY_FLAGS.map((f) => FLAG_FIELDS[f]),
  ...JOURNEY_COUNTERS.map((c) => COUNTER_FIELDS[c]),
];

// A sort key is occurred_at (ms) shifted to be non-negative over the whole Timestamp range and
// written in 16 digits, so that a script can cut it off a composite field by position.
const SORT_KEY_OFFSET = 1e15;
const SORT_KEY_DIGITS = 16;

/** occurred_at as the 16-digit sort key the journey's fields and the scripts compare. */
export function sortKey(at: number): string {
  if (!(at >= MIN_OCCURRED_AT_MS && at <= MAX_OCCURRED_AT_MS))
    throw new RangeError(`sortKey: ${at} is outside the Timestamp range`);
  const key = String(at + SORT_KEY_OFFSET);
  return key.length === SORT_KEY_DIGITS ? key : key.padStart(SORT_KEY_DIGITS, '0');
}

const sortKeyMs = (value: string) => Number(value.slice(0, SORT_KEY_DIGITS)) - SORT_KEY_OFFSET;

/** `<sort key><event_id> <value>` into its parts. */
function parseLatest(field: string): { at: number; eventId: string; value: string } {
  const space = field.indexOf(' ', SORT_KEY_DIGITS);
  return {
    at: sortKeyMs(field),
    eventId: field.slice(SORT_KEY_DIGITS, space),
    value: field.slice(space + 1),
  };
}

/** A journey from the values of {@link JOURNEY_FIELDS}, in order (all null for an unknown user). */
export function decodeJourney(values: ReadonlyArray<string | null>): Journey {
  const [first, le, a, u] = values;
  const last = le == null ? undefined : parseLatest(le);
  const flags = new Set<JourneyFlag>();
  JOURNEY_FLAGS.forEach((flag, i) => {
    if (values[4 + i] === '1') flags.add(flag);
  });
  const counters = {} as Record<JourneyCounter, bigint>;
  JOURNEY_COUNTERS.forEach((counter, i) => {
    counters[counter] = BigInt(values[4 + JOURNEY_FLAGS.length + i] ?? 0);
  });
  return {
    firstSeenAt: first == null ? undefined : sortKeyMs(first),
    lastEvent: last && { at: last.at, eventId: last.eventId, eventType: last.value },
    appid: a == null ? '' : parseLatest(a).value,
    unionid: u == null ? '' : parseLatest(u).value,
    flags,
    counters,
  };
}

/** The event_ids of a journey's marker fields, among all its field names. */
export function appliedEventIdsOf(fields: readonly string[]): string[] {
  return fields.filter((f) => f.startsWith(APPLIED_MARK)).map((f) => f.slice(APPLIED_MARK.length));
}
