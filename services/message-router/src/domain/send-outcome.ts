import type { WeChatErrorKind } from '@wxmesh/wechat';
import type { DeliveryError } from './delivery.js';

/** 45009: the daily API quota is used up; 45011: called too often. Both pass with time. */
const RATE_LIMITS: ReadonlySet<WeChatErrorKind> = new Set(['quota-exhausted', 'too-frequent']);
/** Refusals worth another attempt: a dead token (after its refresh), rate limits, WeChat busy (-1). */
const TRANSIENT: ReadonlySet<WeChatErrorKind> = new Set([...RATE_LIMITS, 'token-invalid', 'system-busy']);

/** Why WeChat refuses for good, in words an operator understands. */
const PERMANENT_REASONS: Readonly<Record<number, string>> = {
  43101:
    'the user has no subscription left for this template (not subscribed, or the one-time grant is used)',
  40003: 'the openid is not a user of this app',
  47003: 'the template data does not fit the template',
  40037: 'the template id is unknown to WeChat',
  41030: 'the page does not exist in the released mini-program',
};

/** What one send attempt came back with. */
export type SendResult =
  | { readonly kind: 'sent' }
  | { readonly kind: 'wechat'; readonly errcode: number; readonly errorKind: WeChatErrorKind }
  | { readonly kind: 'unavailable'; readonly detail: string };

/** The retry policy of the send queue (from configuration). */
export interface RetryPolicy {
  /** Attempts of transient failures (network, 5xx, timeouts) before a job is dead-lettered. */
  readonly maxAttempts: number;
  /** First backoff; doubled per attempt up to {@link backoffMaxMs}, with full jitter. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Delay after 45009 (the daily quota is gone; WeChat resets it at midnight China time). */
  readonly quotaDelayMs: number;
  /** Delay after 45011 (too frequent). */
  readonly frequencyDelayMs: number;
}

/** What the worker does next with a job after an attempt. */
export type NextStep =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'refresh-token'; readonly error: DeliveryError }
  | { readonly kind: 'retry'; readonly at: number; readonly error: DeliveryError }
  | { readonly kind: 'failed'; readonly error: DeliveryError }
  | { readonly kind: 'dead-letter'; readonly error: DeliveryError };

/**
 * The send state machine for one attempt, pure: token errors refresh the token and send again
 * once (a second token error is treated as transient); 45009/45011 wait their own delay and
 * retry; 43101, 40003, 47003 (and other WeChat refusals) fail for good at once;
 * transient failures back off exponentially with full jitter until `maxAttempts`, then the job
 * is dead-lettered. `random` is in [0, 1).
 */
export function nextStep(
  result: SendResult,
  attempt: { readonly number: number; readonly tokenRefreshed: boolean; readonly now: number },
  policy: RetryPolicy,
  random: () => number,
): NextStep {
  if (result.kind === 'sent') return { kind: 'delivered' };
  if (result.kind === 'wechat') {
    const { errcode, errorKind } = result;
    if (errorKind === 'token-invalid' && !attempt.tokenRefreshed) {
      return { kind: 'refresh-token', error: wechatError(errcode, 'the access_token was rejected', true) };
    }
    if (RATE_LIMITS.has(errorKind) && attempt.number < policy.maxAttempts) {
      const delay = errorKind === 'quota-exhausted' ? policy.quotaDelayMs : policy.frequencyDelayMs;
      const error = wechatError(errcode, 'WeChat rate limit; the send waits and is retried', true);
      return { kind: 'retry', at: attempt.now + delay + Math.floor(random() * delay * 0.1), error };
    }
    if (!TRANSIENT.has(errorKind)) {
      const reason = PERMANENT_REASONS[errcode] ?? 'WeChat refused the message';
      return { kind: 'failed', error: wechatError(errcode, reason, false) };
    }
  }
  const error: DeliveryError =
    result.kind === 'unavailable'
      ? { errcode: 0, message: result.detail, retryable: true }
      : wechatError(result.errcode, 'WeChat is busy or the token stayed invalid', true);
  if (attempt.number >= policy.maxAttempts) {
    return {
      kind: 'dead-letter',
      error: {
        ...error,
        retryable: false,
        message: `${error.message}; gave up after ${attempt.number} attempts`,
      },
    };
  }
  return { kind: 'retry', at: attempt.now + backoff(attempt.number, policy, random), error };
}

/** Full-jitter exponential backoff: uniform in [0, min(max, base * 2^(attempt-1))], at least 1 ms. */
export function backoff(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.floor(random() * ceiling));
}

function wechatError(errcode: number, message: string, retryable: boolean): DeliveryError {
  return { errcode, message: `WeChat errcode ${errcode}: ${message}`, retryable };
}
