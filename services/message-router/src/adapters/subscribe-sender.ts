import { BreakerOpenError, BreakerTimeoutError, createBreaker } from '@wxmesh/resilience';
import {
  sendSubscribeMessage,
  SUBSCRIBE_SEND,
  WeChatApiError,
  WeChatUnavailableError,
  type SubscribeMessage,
  type WeChatApi,
} from '@wxmesh/wechat';
import type { SubscribeContent } from '../domain/delivery.js';
import type { SendResult } from '../domain/send-outcome.js';

/**
 * WeChat's subscribe-message send, behind its own circuit breaker (`wechat.subscribe.send`: per
 * endpoint, so a failing send API does not stop the token or login calls other services make to
 * the same host). WeChat's errcodes are answers, not failures of WeChat, and do not count against
 * the breaker; transport errors, HTTP errors, malformed answers (a `WeChatUnavailableError`) and
 * timeouts do. Every outcome comes back as a {@link SendResult}; nothing is thrown except the
 * caller's own cancellation.
 */
export function createSubscribeSender(
  api: WeChatApi,
  options: { timeoutMs: number; resetMs: number; errorThresholdPercentage: number },
) {
  const breaker = createBreaker(
    'wechat.subscribe.send',
    (signal: AbortSignal, accessToken: string, message: SubscribeMessage) =>
      sendSubscribeMessage(api, { accessToken, message }, signal),
    {
      timeout: options.timeoutMs,
      resetTimeout: options.resetMs,
      volumeThreshold: 10,
      errorThresholdPercentage: options.errorThresholdPercentage,
      isFailure: (err) => !(err instanceof WeChatApiError),
    },
  );

  return {
    /** Sends one subscribe message to `openid` with `accessToken`. */
    async send(
      accessToken: string,
      openid: string,
      content: SubscribeContent,
      signal?: AbortSignal,
    ): Promise<SendResult> {
      const message: SubscribeMessage = { toUser: openid, ...content };
      try {
        await breaker.fireWithSignal(signal, accessToken, message);
        return { kind: 'sent' };
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof WeChatApiError)
          return { kind: 'wechat', errcode: err.errcode, errorKind: err.kind };
        if (err instanceof WeChatUnavailableError || err instanceof BreakerOpenError) {
          return { kind: 'unavailable', detail: err.message };
        }
        if (err instanceof BreakerTimeoutError) {
          return {
            kind: 'unavailable',
            detail: `WeChat ${SUBSCRIBE_SEND} did not answer in ${options.timeoutMs} ms`,
          };
        }
        throw err;
      }
    },
    /**
     * Resolves once the breaker is not open (checked every 100 ms), or after `maxWaitMs`: workers
     * wait here instead of spending attempts on calls the breaker would refuse.
     */
    async whileOpen(signal: AbortSignal, maxWaitMs = options.resetMs): Promise<void> {
      const until = Date.now() + maxWaitMs;
      while (breaker.state() === 'open' && !signal.aborted && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    close: () => breaker.shutdown(),
  };
}

export type SubscribeSender = ReturnType<typeof createSubscribeSender>;
