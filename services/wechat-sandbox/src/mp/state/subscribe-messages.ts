import { createRateLimits } from './rate-limits.js';
import { createSendLog } from './send-log.js';
import { createFaultScripts, createSubscriptions, createTemplates } from './subscriptions.js';

/**
 * The subscribe-message side's state, each part explicit and reset together: templates, user
 * subscriptions, per-user fault scripts, rate limits (on the sandbox clock) and the send log.
 */
export function createSubscribeMessages(clock: () => number) {
  const parts = {
    templates: createTemplates(),
    subscriptions: createSubscriptions(),
    faults: createFaultScripts(),
    rateLimits: createRateLimits(clock),
    log: createSendLog(),
  };
  return {
    ...parts,
    reset(): void {
      for (const part of Object.values(parts)) part.reset();
    },
  };
}

/** The state {@link createSubscribeMessages} returns. */
export type SubscribeMessages = ReturnType<typeof createSubscribeMessages>;
