import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { BehaviourViewService } from '@wxmesh/contracts';
import { actingFor, defineService } from '@wxmesh/rpc';
import { LayoutMismatchError, type ReadModelStore } from './adapters/read-models.js';
import { daysBetween, isCalendarDate } from './domain/calendar.js';
import type { Journey } from './domain/journey.js';

const time = (ms: number | undefined) => (ms === undefined ? undefined : timestampFromMs(ms));

/** The journey message for a stored journey (an unknown user's is all zero). */
export function toUserJourney(openid: string, j: Journey) {
  const c = j.counters;
  return {
    openid,
    appid: j.appid,
    unionid: j.unionid,
    firstSeenAt: time(j.firstSeenAt),
    lastSeenAt: time(j.lastEvent?.at),
    loginCount: Number(c.logins),
    phoneBound: j.flags.has('phone'),
    oauthAuthorized: j.flags.has('oauth'),
    sessionsStarted: Number(c.sessionsStarted),
    sessionsEnded: Number(c.sessionsEnded),
    messagesReceived: Number(c.messagesReceived),
    messagesFailed: Number(c.messagesFailed),
    ordersCreated: Number(c.ordersCreated),
    ordersPaid: Number(c.ordersPaid),
    paidTotal: c.paidTotal,
    refunds: Number(c.refunds),
    refundedTotal: c.refundedTotal,
    lastEvent: j.lastEvent && {
      eventId: j.lastEvent.eventId,
      eventType: j.lastEvent.eventType,
      occurredAt: time(j.lastEvent.at),
    },
  };
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
    async getUserJourney(request, ctx) {
      const openid = actingFor(ctx, request.openid, 'openid');
      try {
        return { journey: toUserJourney(openid, await store.journey(openid)) };
      } catch (err) {
        if (err instanceof LayoutMismatchError) {
          throw new ConnectError(
            'journeys are being rebuilt for a new read-model layout; retry later',
            Code.Unavailable,
          );
        }
        throw err;
      }
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
