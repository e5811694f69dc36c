import { Code, ConnectError } from '@connectrpc/connect';
import { BreakerOpenError, BreakerTimeoutError, createBreaker } from '@wxmesh/resilience';
import { WeChatApiError, WeChatUnavailableError, type WeChatApi, type WeChatErrorKind } from '@wxmesh/wechat';

/** One WeChat call: a typed endpoint of `@wxmesh/wechat` run against `api` under `signal`. */
export type WeChatCall<T> = (api: WeChatApi, signal: AbortSignal) => Promise<T>;

/**
 * Every WeChat call auth-verify makes, through one breaker per WeChat API host: transport
 * failures, HTTP errors, malformed answers and timeouts count against it; WeChat's own errcodes
 * (a bad code, a dead token) do not, since they say the request was wrong, not that WeChat is
 * down. While it is open, calls fail at once with `BreakerOpenError`.
 *
 * `signal` is the served call's (`ctx.signal`): the request to WeChat is aborted when it fires, so
 * a call past its deadline stops talking to WeChat (a jscode2session still waiting for its answer
 * is given up, and its code is not spent at a WeChat that drops the request with the connection),
 * and the breaker does not count a call its caller gave up on. Work shared by many callers (the
 * central token refresh) passes none and is bounded by `timeoutMs` alone.
 */
export function createWeChatGateway(api: WeChatApi, options: { timeoutMs: number; resetMs: number }) {
  const breaker = createBreaker(
    'wechat.api',
    (signal: AbortSignal, call: WeChatCall<unknown>) => call(api, signal),
    {
      timeout: options.timeoutMs,
      resetTimeout: options.resetMs,
      volumeThreshold: 5,
      errorThresholdPercentage: 50,
      isFailure: (err) => !(err instanceof WeChatApiError),
    },
  );
  return {
    /** Runs `call` through the breaker, aborted with `signal` (the caller's deadline) when given. */
    call: <T>(call: WeChatCall<T>, signal?: AbortSignal): Promise<T> =>
      breaker.fireWithSignal(signal, call) as Promise<T>,
    close: () => breaker.shutdown(),
  };
}

export type WeChatGateway = ReturnType<typeof createWeChatGateway>;

/** WeChat refusals that mean the caller's input was wrong, with the code and message to answer. */
const CALLER_ERRORS: Partial<Record<WeChatErrorKind, [Code, string]>> = {
  'invalid-code': [Code.InvalidArgument, 'the code is invalid or expired; get a new one from the client'],
  'code-used': [Code.InvalidArgument, 'the code was already used; codes are single-use, get a new one'],
  'refresh-token-invalid': [Code.Unauthenticated, 'the refresh token is invalid; authorise again'],
  'refresh-token-expired': [Code.Unauthenticated, 'the refresh token has expired; authorise again'],
  'user-blocked': [Code.PermissionDenied, 'WeChat blocked this user as high-risk'],
  'too-frequent': [Code.ResourceExhausted, 'WeChat rate limit for this user; retry later'],
  'quota-exhausted': [Code.ResourceExhausted, 'the app’s daily WeChat API quota is used up'],
  'unknown-appid': [Code.FailedPrecondition, 'WeChat does not know this appid'],
  'invalid-app-secret': [Code.FailedPrecondition, 'WeChat rejected the configured AppSecret for this app'],
};

/**
 * Maps a failure of a WeChat call to what the caller should see: caller mistakes get their
 * precise code, an unreachable, malformed-answering or broken-open WeChat is Unavailable, other
 * errcodes are Unavailable with WeChat's errcode (errmsg can echo input, so it is not passed on).
 * Anything else is rethrown unchanged.
 */
export function weChatFailure(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof WeChatApiError) {
    const known = CALLER_ERRORS[err.kind];
    if (known) return new ConnectError(`WeChat errcode ${err.errcode}: ${known[1]}`, known[0]);
    return new ConnectError(`WeChat answered errcode ${err.errcode}`, Code.Unavailable);
  }
  if (err instanceof WeChatUnavailableError)
    return new ConnectError(`${err.message}; retry later`, Code.Unavailable);
  if (err instanceof BreakerOpenError) {
    return new ConnectError('WeChat is unavailable (circuit open); retry later', Code.Unavailable);
  }
  if (err instanceof BreakerTimeoutError) {
    return new ConnectError('WeChat did not answer in time; retry later', Code.Unavailable);
  }
  throw err;
}

/** Runs `run`, answering its WeChat failures as {@link weChatFailure} maps them. */
export async function answeringWeChatFailures<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw weChatFailure(err);
  }
}
