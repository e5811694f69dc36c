import type { TokenBucket } from '@wxmesh/resilience';
import type { Logger } from '@wxmesh/rpc';
import type { AccessTokens } from '../adapters/access-tokens.js';
import type { DeliveryStore, QueuedJob } from '../adapters/delivery-store.js';
import type { SubscribeSender } from '../adapters/subscribe-sender.js';
import type { SubscriptionStore } from '../adapters/subscription-store.js';
import type { Delivery, DeliveryError } from '../domain/delivery.js';
import { nextStep, type NextStep, type RetryPolicy, type SendResult } from '../domain/send-outcome.js';

/** What one send attempt needs. */
export interface SendAttemptDeps {
  readonly store: DeliveryStore;
  readonly tokens: AccessTokens;
  readonly sender: SubscribeSender;
  readonly subscriptions: SubscriptionStore;
  /** The per-app send rate shared by every replica. */
  readonly rateLimit: TokenBucket;
  readonly policy: RetryPolicy;
  readonly now: () => number;
  readonly random: () => number;
  readonly logger: Logger;
  /** Called once per attempt with how it ended (metrics). */
  readonly onOutcome: (
    outcome: NextStep['kind'] | 'ambiguous' | 'refused-by-subscription',
    errcode: number,
  ) => void;
  /** Stops waiting for the rate limit when the workers stop. */
  readonly signal: AbortSignal;
}

const AMBIGUOUS: DeliveryError = {
  errcode: 0,
  message:
    'the worker died during the send, so WeChat may have delivered it; dead-lettered instead of resent — replay only if the user did not get it',
  retryable: false,
};

/**
 * One job from the send queue, start to end: wait for the app's rate limit and, while WeChat's
 * send API is known down (its breaker open), for it to recover — the job stays QUEUED meanwhile,
 * so a crash here loses nothing and no attempt is spent — then start the attempt (SENDING), consult the user's
 * subscription state, send with the app's token (refreshing a dead token once), and record what
 * the state machine decides — in the same atomic step that acknowledges the job.
 */
export async function runSendAttempt(job: QueuedJob, deps: SendAttemptDeps): Promise<void> {
  const appid = await deps.store.appOf(job.deliveryId);
  if (appid !== undefined) await takeRateLimit(appid, deps);
  await deps.sender.whileOpen(deps.signal);
  const started = await deps.store.start(job, deps.now());
  if (started.kind === 'done' || started.kind === 'lost') return;
  if (started.kind === 'ambiguous') {
    deps.onOutcome('ambiguous', 0);
    await deps.store.move(job.deliveryId, {
      from: 'SENDING',
      attempts: started.attempts,
      to: 'DEAD_LETTERED',
      channel: 'SUBSCRIBE',
      at: deps.now(),
      error: AMBIGUOUS,
      job,
    });
    return;
  }
  const { delivery } = started;
  const refused = await refusedBySubscription(delivery, deps);
  if (refused) {
    deps.onOutcome('refused-by-subscription', refused.errcode);
    await record(delivery, job, { kind: 'failed', error: refused }, deps);
    return;
  }
  await record(delivery, job, await sendWithToken(delivery, deps), deps);
}

async function takeRateLimit(appid: string, deps: SendAttemptDeps): Promise<void> {
  for (;;) {
    const taken = await deps.rateLimit.take(appid);
    if (taken.allowed || deps.signal.aborted) return;
    // Jittered, so the workers refused together do not all come back together (each retry is a
    // Lua call on the shared bucket).
    await pause(Math.min(taken.retryAfterMs * (1 + deps.random()), 1_000), deps.signal);
  }
}

/** The user told WeChat no (rejected or banned the template): sending would only earn 43101. */
async function refusedBySubscription(
  delivery: Delivery,
  deps: SendAttemptDeps,
): Promise<DeliveryError | undefined> {
  const templateId = delivery.subscribe?.templateId;
  if (templateId === undefined) return undefined;
  const status = await deps.subscriptions.status(delivery.appid, delivery.openid, templateId);
  if (status !== 'reject' && status !== 'ban') return undefined;
  return {
    errcode: 43101,
    message: `the user ${status === 'ban' ? 'has the template banned' : 'rejected this template'}; not sent`,
    retryable: false,
  };
}

/** Sends, and when WeChat says the token is dead, reports it and sends once more with the new one. */
async function sendWithToken(delivery: Delivery, deps: SendAttemptDeps): Promise<NextStep> {
  const attempt = { number: delivery.attempts, tokenRefreshed: false, now: deps.now() };
  let token;
  try {
    token = await deps.tokens.current(delivery.appid);
  } catch (err) {
    return nextStep(tokenUnavailable(err), attempt, deps.policy, deps.random);
  }
  let step = nextStep(await send(token.value, delivery, deps), attempt, deps.policy, deps.random);
  if (step.kind !== 'refresh-token') return step;
  try {
    token = await deps.tokens.invalidate(token);
  } catch (err) {
    return nextStep(tokenUnavailable(err), { ...attempt, tokenRefreshed: true }, deps.policy, deps.random);
  }
  step = nextStep(
    await send(token.value, delivery, deps),
    { ...attempt, tokenRefreshed: true, now: deps.now() },
    deps.policy,
    deps.random,
  );
  return step.kind === 'refresh-token' ? { ...step, kind: 'failed' } : step;
}

function send(token: string, delivery: Delivery, deps: SendAttemptDeps): Promise<SendResult> {
  // Not cancelled by stopping: a send in flight finishes and is recorded (the breaker bounds it).
  return deps.sender.send(token, delivery.openid, delivery.subscribe!);
}

function tokenUnavailable(err: unknown): SendResult {
  return { kind: 'unavailable', detail: `no access_token from auth-verify: ${(err as Error).message}` };
}

/** Writes the state machine's decision, acknowledging the job in the same step. */
async function record(
  delivery: Delivery,
  job: QueuedJob,
  step: NextStep,
  deps: SendAttemptDeps,
): Promise<void> {
  const base = {
    from: 'SENDING' as const,
    attempts: delivery.attempts,
    channel: delivery.channel,
    at: deps.now(),
    job,
  };
  deps.onOutcome(step.kind, step.kind === 'delivered' ? 0 : step.error.errcode);
  let result;
  switch (step.kind) {
    case 'delivered':
      result = await deps.store.move(delivery.deliveryId, { ...base, to: 'DELIVERED' });
      break;
    case 'retry':
      result = await deps.store.move(delivery.deliveryId, {
        ...base,
        to: 'RETRY_SCHEDULED',
        error: step.error,
        retryAt: step.at,
        priority: delivery.priority,
      });
      break;
    case 'failed':
    case 'refresh-token':
      result = await deps.store.move(delivery.deliveryId, { ...base, to: 'FAILED', error: step.error });
      break;
    case 'dead-letter':
      result = await deps.store.move(delivery.deliveryId, {
        ...base,
        to: 'DEAD_LETTERED',
        error: step.error,
      });
      break;
  }
  if (result !== 'ok')
    deps.logger.warn(
      { deliveryId: delivery.deliveryId, result },
      'send outcome not recorded: the job moved on',
    );
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
