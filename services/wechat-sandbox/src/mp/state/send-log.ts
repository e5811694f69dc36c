/** A subscribe message the sandbox accepted, as `GET /sandbox/mp/subscribe-messages` lists it. */
export interface SentMessage {
  readonly msgid: number;
  readonly touser: string;
  readonly template_id: string;
  readonly page?: string;
  readonly data: Record<string, { value: string }>;
  readonly miniprogram_state: string;
  readonly lang: string;
  /** Sandbox time (ms since the epoch) of the send. */
  readonly sentAt: number;
}

/** What the send API answered an app, as `GET /sandbox/mp/subscribe-stats` reports it. */
export interface SendStats {
  sent: number;
  /** Refusals by errcode (token errors of the app's tokens included), injected ones too. */
  byErrcode: Record<string, number>;
  /** 45009s that came from a rate limit (also counted in byErrcode). */
  rateLimited: number;
  /** Injected HTTP statuses by status. */
  byStatus: Record<string, number>;
  /** Injected hangs (calls never answered). */
  hung: number;
  /** Per user: messages sent, and refusals with 43101. */
  perUser: Record<string, { sent: number; refused: number }>;
}

/** Messages kept per app; past it the oldest are dropped, so a long-running sandbox stays bounded. */
export const MAX_LOGGED_MESSAGES = 100_000;

/** The first msgid handed out: large like WeChat's, yet exact in JSON (below 2^53). */
const FIRST_MSGID = 2_000_000_000_000_001;

const emptyStats = (): SendStats => ({
  sent: 0,
  byErrcode: {},
  rateLimited: 0,
  byStatus: {},
  hung: 0,
  perUser: {},
});

/**
 * The log of the send API per app: the messages accepted (with their msgid) and counts of every
 * answer. msgids keep increasing across resets, so one from before a reset is never reused.
 */
export function createSendLog() {
  let messages = new Map<string, SentMessage[]>();
  let stats = new Map<string, SendStats>();
  let nextMsgid = FIRST_MSGID;

  const statsOf = (appid: string) => {
    let s = stats.get(appid);
    if (s === undefined) stats.set(appid, (s = emptyStats()));
    return s;
  };
  const userOf = (s: SendStats, openid: string) => (s.perUser[openid] ??= { sent: 0, refused: 0 });

  return {
    /** Records an accepted message; returns its msgid. */
    sent(appid: string, message: Omit<SentMessage, 'msgid'>): number {
      const msgid = nextMsgid++;
      let list = messages.get(appid);
      if (list === undefined) messages.set(appid, (list = []));
      list.push({ msgid, ...message });
      if (list.length > MAX_LOGGED_MESSAGES) list.splice(0, list.length - MAX_LOGGED_MESSAGES);
      const s = statsOf(appid);
      s.sent++;
      userOf(s, message.touser).sent++;
      return msgid;
    },
    /** Records an errcode answer; `openid` when the request named a user. */
    refused(appid: string, openid: string | undefined, errcode: number, rateLimited = false): void {
      const s = statsOf(appid);
      s.byErrcode[errcode] = (s.byErrcode[errcode] ?? 0) + 1;
      if (rateLimited) s.rateLimited++;
      if (errcode === 43101 && openid !== undefined) userOf(s, openid).refused++;
    },
    /** Records an injected HTTP status or hang. */
    faulted(appid: string, fault: { status: number } | 'hang'): void {
      const s = statsOf(appid);
      if (fault === 'hang') s.hung++;
      else s.byStatus[fault.status] = (s.byStatus[fault.status] ?? 0) + 1;
    },
    /** The app's messages, optionally only those to `openid`, oldest first. */
    messages: (appid: string, openid?: string) =>
      (messages.get(appid) ?? []).filter((m) => openid === undefined || m.touser === openid),
    stats: (appid: string): SendStats => structuredClone(stats.get(appid) ?? emptyStats()),
    reset(): void {
      messages = new Map();
      stats = new Map();
    },
  };
}
