import { Code, ConnectError } from '@connectrpc/connect';
import { createBreaker, type Breaker } from '@wxmesh/resilience';
import { WeChatApiError, WeChatUnavailableError, type WeChatApi } from '@wxmesh/wechat';

/**
 * Every WeChat call auth-verify makes, through one breaker per WeChat API host: transport
 * failures, HTTP errors and timeouts count against it; WeChat's own errcodes (a bad code, a dead
 * token) do not, since they say the request was wrong, not that WeChat is down. While it is open,
 * calls fail at once with Unavailable.
 *
 * `signal` is the served call's (`ctx.signal`): the request to WeChat is aborted when it fires, so
 * a call past its deadline stops talking to WeChat (a jscode2session still waiting for its answer
 * is given up, and its code is not spent at a WeChat that drops the request with the connection),
 * and the breaker does not count a call its caller gave up on. Work shared by many callers (the
 * central token refresh) passes none and is bounded by `timeoutMs` alone.
 */
export function createWeChatGateway(api: WeChatApi, options: { timeoutMs: number; resetMs: number }) {
  const breaker: Breaker<[(signal: AbortSignal) => Promise<unknown>], unknown> = createBreaker(
    'wechat.api',
    (signal: AbortSignal, run: (signal: AbortSignal) => Promise<unknown>) => run(signal),
    {
      timeout: options.timeoutMs,
      resetTimeout: options.resetMs,
      volumeThreshold: 5,
      errorThresholdPercentage: 50,
      isFailure: (err) => !(err instanceof WeChatApiError),
    },
  );
  const through = <T>(caller: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>) =>
    breaker.fireWithSignal(caller, run) as Promise<T>;
  return {
    get: <T>(path: string, query: Record<string, string | undefined>, signal?: AbortSignal) =>
      through(signal, (s) => api.get<T>(path, query, s)),
    post: <T>(path: string, query: Record<string, string | undefined>, body: unknown, signal?: AbortSignal) =>
      through(signal, (s) => api.post<T>(path, query, body, s)),
    close: () => breaker.shutdown(),
  };
}

export type WeChatGateway = ReturnType<typeof createWeChatGateway>;

/** WeChat errcodes that mean the caller's input was wrong, with the code and message to answer. */
const CALLER_ERRORS: Record<number, [Code, string]> = {
  40029: [Code.InvalidArgument, 'the code is invalid or expired; get a new one from the client'],
  40163: [Code.InvalidArgument, 'the code was already used; codes are single-use, get a new one'],
  40030: [Code.Unauthenticated, 'the refresh token is invalid; authorise again'],
  42002: [Code.Unauthenticated, 'the refresh token has expired; authorise again'],
  40226: [Code.PermissionDenied, 'WeChat blocked this user as high-risk'],
  45011: [Code.ResourceExhausted, 'WeChat rate limit for this user; retry later'],
  45009: [Code.ResourceExhausted, 'the app’s daily WeChat API quota is used up'],
  40013: [Code.FailedPrecondition, 'WeChat does not know this appid'],
  40125: [Code.FailedPrecondition, 'WeChat rejected the configured AppSecret for this app'],
};

/**
 * Maps a failure of a WeChat call to what the caller should see: caller mistakes get their
 * precise code, an unreachable or broken-open WeChat is Unavailable, other errcodes are
 * Unavailable with WeChat's errcode (errmsg can echo input, so it is not passed on).
 */
export function weChatFailure(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof WeChatApiError) {
    const known = CALLER_ERRORS[err.errcode];
    if (known) return new ConnectError(`WeChat errcode ${err.errcode}: ${known[1]}`, known[0]);
    return new ConnectError(`WeChat answered errcode ${err.errcode}`, Code.Unavailable);
  }
  if (err instanceof WeChatUnavailableError)
    return new ConnectError(`${err.message}; retry later`, Code.Unavailable);
  if ((err as Error)?.name === 'BreakerOpenError') {
    return new ConnectError('WeChat is unavailable (circuit open); retry later', Code.Unavailable);
  }
  if ((err as Error)?.name === 'BreakerTimeoutError') {
    return new ConnectError('WeChat did not answer in time; retry later', Code.Unavailable);
  }
  throw err;
}
