/** Which channels RouteMessage may use (the request's policy). */
export type RoutePolicy = 'IN_APP_THEN_SUBSCRIBE' | 'IN_APP_ONLY' | 'SUBSCRIBE_ONLY';

/** The first channel chosen for one recipient. */
export type RouteChoice = 'in-app' | 'subscribe' | 'offline';

/**
 * The routing decision for one recipient, pure: an online user gets the in-app channel unless the
 * policy is subscribe-only; an offline user gets a subscribe message unless the policy is in-app
 * only, in which case there is nothing to do (`offline`: the delivery fails at once).
 */
export function chooseChannel(policy: RoutePolicy, online: boolean): RouteChoice {
  if (policy === 'SUBSCRIBE_ONLY') return 'subscribe';
  if (online) return 'in-app';
  return policy === 'IN_APP_ONLY' ? 'offline' : 'subscribe';
}

/** Whether an in-app delivery that did not reach the user falls back to a subscribe message. */
export function fallsBackToSubscribe(policy: RoutePolicy): boolean {
  return policy === 'IN_APP_THEN_SUBSCRIBE';
}
