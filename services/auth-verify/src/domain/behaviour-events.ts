import { createHash } from 'node:crypto';
import type { BehaviourEventInit } from '@wxmesh/events';
import type { UserIdentity } from '@wxmesh/rpc';
import type { WeChatIdentity } from '@wxmesh/telemetry';

const PRODUCER = 'auth-verify';

/** The user an event is about, as WeChat named them. */
export interface NamedUser {
  readonly appid: string;
  readonly openid: string;
  /** Empty or undefined when WeChat gave none. */
  readonly unionid: string | undefined;
}

function wechatOf(user: NamedUser): BehaviourEventInit['wechat'] {
  return { openid: user.openid, appid: user.appid, ...(user.unionid ? { unionid: user.unionid } : {}) };
}

/** An auth-verify event about the user `wechat` names, kept in that user's order. */
function userEvent(
  eventId: string,
  wechat: BehaviourEventInit['wechat'],
  occurredAt: number,
  payload: BehaviourEventInit['payload'],
): BehaviourEventInit {
  return { eventId, aggregateId: `user:${wechat.openid}`, occurredAt, producer: PRODUCER, wechat, payload };
}

/**
 * `UserLoggedIn` for a new session. Its id is the session's, so a retried Login that created the
 * same session re-emits the same event.
 */
export function userLoggedIn(user: NamedUser, sessionId: string, occurredAt: number): BehaviourEventInit {
  return userEvent(`login:${sessionId}`, wechatOf(user), occurredAt, {
    case: 'userLoggedIn',
    value: { sessionId },
  });
}

/**
 * `PhoneNumberBound`, carrying the country code only. The id is derived from the single-use code,
 * so a retried request re-emits the same id; the code itself does not appear in it.
 */
export function phoneNumberBound(
  actor: UserIdentity,
  phoneCode: string,
  countryCode: string,
  occurredAt: number,
): BehaviourEventInit {
  const digest = createHash('sha256').update(`${actor.appid} ${phoneCode}`).digest('base64url').slice(0, 32);
  return userEvent(`phone:${digest}`, actor, occurredAt, {
    case: 'phoneNumberBound',
    value: { countryCode },
  });
}

/** `OAuthAuthorized` for a new grant, identified by its mesh refresh chain. */
export function oauthAuthorized(
  user: NamedUser,
  chainId: string,
  grant: { scopes: string[]; snapshotUser: boolean },
  occurredAt: number,
): BehaviourEventInit {
  return userEvent(`oauth:${chainId}`, wechatOf(user), occurredAt, {
    case: 'oauthAuthorized',
    value: { scopes: grant.scopes, snapshotUser: grant.snapshotUser },
  });
}

/**
 * The calling user's identity for an event (as the gateway or the session token gave it; its
 * openid is the session's, `actingFor` made sure), completed with the app and unionid of the
 * session the action was done under: the gateway may leave those out, and the session's app is the
 * one whose code was redeemed.
 */
export function actedUnder(caller: WeChatIdentity, session: NamedUser): UserIdentity {
  return {
    ...caller,
    openid: session.openid,
    appid: session.appid,
    unionid: caller.unionid ?? (session.unionid || undefined),
  };
}
