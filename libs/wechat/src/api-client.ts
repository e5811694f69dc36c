import { tracedHttpCall, type HttpClientSpan } from '@wxmesh/telemetry';
import { WeChatApiError, WeChatMalformedAnswerError, WeChatUnavailableError } from './errors.js';

/** Options of {@link createWeChatApi}. */
export interface WeChatApiOptions {
  /** `https://api.weixin.qq.com` in production; the sandbox's URL in tests and local runs. */
  readonly baseUrl: string;
  /** Injectable for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

/** Query values; undefined entries are left out. */
export type Query = Record<string, string | undefined>;

/**
 * The HTTP layer of every WeChat API call: JSON in, JSON out, errcode → {@link WeChatApiError},
 * transport failures, HTTP errors and bodies that are not a JSON object →
 * {@link WeChatUnavailableError}. Call WeChat through the typed endpoint functions
 * (`jscode2session`, `getStableAccessToken`, ...), which check each answer's shape. It does no retries and no
 * breaking: callers wrap it in their breaker and token-refresh policy. Errors name the API path
 * only; query strings carry secrets and never leave this function.
 *
 * Pass the served call's signal: it aborts the request (connection, headers and body) at the
 * caller's deadline, and the call then rejects with the signal's reason, unchanged, so the kit
 * answers DeadlineExceeded rather than a WeChat outage.
 *
 * Each call is a CLIENT span of its own (`GET /sns/jscode2session`) with `wechat.errcode` when
 * WeChat answers one; the query string is never recorded.
 */
export function createWeChatApi(options: WeChatApiOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  function call<T>(
    method: 'GET' | 'POST',
    path: string,
    query: Query,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const url = new URL(base + path);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(key, value);
    return tracedHttpCall({ method, url, template: path }, (span) =>
      send<T>(span, method, url, path, body, signal),
    );
  }

  async function send<T>(
    span: HttpClientSpan,
    method: 'GET' | 'POST',
    url: URL,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        signal,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new WeChatUnavailableError(
        path,
        (err as Error).name === 'TypeError' ? 'connection failed' : (err as Error).name,
      );
    }
    span.status(response.status);
    if (!response.ok) {
      await response.body?.cancel();
      throw new WeChatUnavailableError(path, `HTTP ${response.status}`);
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch (err) {
      // The body is read under the same signal: a deadline in the middle of it is the caller's
      // deadline, not a WeChat fault (and must not count against WeChat's breaker).
      if (signal?.aborted) throw signal.reason;
      throw new WeChatUnavailableError(
        path,
        (err as Error).name === 'SyntaxError' ? 'response is not JSON' : 'response body failed',
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new WeChatMalformedAnswerError(path, ['(body): expected object']);
    }
    const { errcode, errmsg } = json as { errcode?: unknown; errmsg?: unknown };
    if (typeof errcode === 'number' && errcode !== 0) {
      span.set('wechat.errcode', errcode);
      throw new WeChatApiError(path, errcode, String(errmsg ?? ''));
    }
    return json as T;
  }

  return {
    get: <T>(path: string, query: Query, signal?: AbortSignal) =>
      call<T>('GET', path, query, undefined, signal),
    post: <T>(path: string, query: Query, body: unknown, signal?: AbortSignal) =>
      call<T>('POST', path, query, body, signal),
  };
}

export type WeChatApi = ReturnType<typeof createWeChatApi>;
