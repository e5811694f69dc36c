import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../http.js';
import { createMpApiEndpoints } from './api.js';
import { createMpControlEndpoints } from './control.js';
import { createErrorReply } from './domain/errors.js';
import { createPushControlEndpoints } from './push-control.js';
import { createPushSender } from './adapters/push-sender.js';
import type { MpApp } from './domain/fixtures.js';
import { createMpStore } from './store.js';
import { createSubscribeMessages, createSubscribeSendEndpoints } from './subscribe.js';
import { createSubscribeControlEndpoints } from './subscribe-control.js';

export type { MpApp } from './domain/fixtures.js';
export { MP_APIS, MP_LIMITS, type QuotaKey } from './domain/limits.js';
export type { MpCounters } from './state/index.js';
export {
  PUSH_MAX_ATTEMPTS,
  type PushAttempt,
  type PushConfig,
  type PushResult,
} from './adapters/push-sender.js';
export { SEND_API } from './subscribe.js';

/**
 * The WeChat Mini Program / Official Account API side of the sandbox: jscode2session, access_token
 * and stable_token, getuserphonenumber, the jsapi_ticket, web OAuth2, checksession and subscribe
 * messages, behaving as WeChat documents them (single-use codes, token overlap windows, quotas,
 * per-user subscriptions, errcodes), plus WeChat's message push to the developer's URL.
 *
 * `endpoints` are the WeChat paths: mount them behind fault injection and call counting.
 * `control` is the JSON control API under `/sandbox/mp/`: mount it without either. `now` is the
 * sandbox's base clock (the control API adds an offset to it); `apps` are registered at start and
 * after every reset; `random` defaults to node:crypto.
 */
export function createMiniProgramApi(deps: {
  now: () => number;
  apps?: readonly MpApp[];
  random?: (size: number) => Buffer;
}): { endpoints: Endpoint[]; control: Endpoint[] } {
  const random = deps.random ?? randomBytes;
  const store = createMpStore({ now: deps.now, random, apps: deps.apps ?? [] });
  const subscribe = createSubscribeMessages(store.now);
  const push = createPushSender({ now: store.now, random });
  const reply = createErrorReply(random);
  const reset = () => {
    store.reset();
    subscribe.reset();
    push.reset();
  };
  return {
    endpoints: [
      ...createMpApiEndpoints(store, reply),
      ...createSubscribeSendEndpoints(store, subscribe, reply),
    ],
    control: [
      ...createMpControlEndpoints(store, random, reset),
      ...createSubscribeControlEndpoints({ store, state: subscribe, push }),
      ...createPushControlEndpoints(store, push),
    ],
  };
}
