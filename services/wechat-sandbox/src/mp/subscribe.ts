import type { Endpoint } from '../http.js';
import { sendSubscribeMessage } from './app/send-subscribe-message.js';
import type { ErrorReply } from './domain/errors.js';
import { SEND_API } from './domain/limits.js';
import type { SubscribeMessages } from './state/subscribe-messages.js';
import type { MpStore } from './store.js';

export { SEND_API } from './domain/limits.js';
export { createSubscribeMessages, type SubscribeMessages } from './state/subscribe-messages.js';

/** The send API's endpoints: POST sends, GET answers 43002 as WeChat does. */
export function createSubscribeSendEndpoints(
  store: MpStore,
  state: SubscribeMessages,
  reply: ErrorReply,
): Endpoint[] {
  return [
    {
      method: 'POST',
      path: SEND_API,
      handler: async (req) => {
        const answer = await sendSubscribeMessage(store, state, reply, req);
        // A hang is never answered: the caller's timeout must cope, as with WeChat gone silent.
        return answer === 'hang' ? new Promise<never>(() => {}) : answer;
      },
    },
    { method: 'GET', path: SEND_API, handler: () => reply(43002) },
  ];
}
