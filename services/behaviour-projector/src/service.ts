import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { BehaviourViewService } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';
import type { ReadModelStore } from './adapters/read-models.js';
import { daysBetween } from './domain/projection.js';

const int = (value: string | undefined) => (value === undefined ? 0 : Number(value));
const time = (value: string | undefined) =>
  value === undefined ? undefined : timestampFromMs(Number(value));

/** The journey message for a stored journey hash (an empty hash is an unknown user: all zero). */
export function toUserJourney(openid: string, h: Record<string, string>) {
  return {
    openid,
    appid: h.appid ?? '',
    unionid: h.unionid ?? '',
    firstSeenAt: time(h.first),
    lastSeenAt: time(h.last),
    loginCount: int(h.logins),
    phoneBound: h.phone === '1',
    oauthAuthorized: h.oauth === '1',
    sessionsStarted: int(h.ss),
    sessionsEnded: int(h.se),
    messagesReceived: int(h.mr),
    messagesFailed: int(h.mf),
    ordersCreated: int(h.oc),
    ordersPaid: int(h.op),
    paidTotal: BigInt(h.pt ?? 0),
    refunds: int(h.rf),
    refundedTotal: BigInt(h.rt ?? 0),
    lastEvent:
      h.le_id === undefined
        ? undefined
        : { eventId: h.le_id, eventType: h.le_type ?? '', occurredAt: time(h.last) },
  };
}

/** True for a `YYYY-MM-DD` that names a real day (the contract's pattern accepts 2025-02-30). */
function isCalendarDate(date: string): boolean {
  const ms = Date.parse(`${date}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === date;
}

/**
 * The BehaviourViewService handlers, mounted by the kit on both ports. Requests are checked by
 * the contract's protovalidate rules first (a malformed openid, appid or date range is
 * InvalidArgument before a handler runs). Views are read from the active generation, so they
 * keep answering while a rebuild fills a shadow one.
 */
export function createBehaviourViewService(deps: { store: ReadModelStore }) {
  const { store } = deps;
  return defineService(BehaviourViewService, {
    async getUserJourney(request) {
      return { journey: toUserJourney(request.openid, await store.journey(request.openid)) };
    },

    async getFunnel(request) {
      for (const [field, date] of [
        ['start_date', request.startDate],
        ['end_date', request.endDate],
      ] as const) {
        if (!isCalendarDate(date)) {
          throw new ConnectError(`${field}: ${date} is not a calendar date`, Code.InvalidArgument);
        }
      }
      const days = await store.funnel(request.appid, daysBetween(request.startDate, request.endDate));
      return {
        appid: request.appid,
        days: days.map((d) => ({
          date: d.day,
          loggedIn: d.logged_in,
          phoneBound: d.phone_bound,
          ordered: d.ordered,
          paid: d.paid,
        })),
      };
    },
  });
}
