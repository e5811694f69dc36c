import { Code, ConnectError } from '@connectrpc/connect';
import { BreakerOpenError, BreakerTimeoutError, createBreaker } from '@wxmesh/resilience';
import { tracedHttpCall, type HttpClientSpan } from '@wxmesh/telemetry';
import {
  authorizationHeader,
  createNonce,
  signatureHeadersOf,
  verifyWechatpaySignature,
} from '@wxmesh/wechat-pay';
import type { TransactionResource } from '../domain/order.js';
import type { PaymentSecrets } from './secrets.js';

/** A JSAPI order as `/v3/pay/transactions/jsapi` takes it. */
export interface JsapiOrderRequest {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire?: string;
  attach?: string;
  notify_url: string;
  goods_tag?: string;
  amount: { total: number; currency: string };
  payer: { openid: string };
  scene_info?: { payer_client_ip: string };
}

/** An answer WeChat Pay gave with an error code (4xx/5xx with `{code, message}`). */
export class WechatPayApiError extends Error {
  override readonly name = 'WechatPayApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`WeChat Pay ${status} ${code}: ${message}`);
  }
}

/**
 * The WeChat Pay APIv3 calls payment-callback makes: every request signed with the merchant key,
 * every answer's signature verified over its raw bytes with the platform keys before it is
 * believed (an unverifiable answer is Unavailable, never used). Each call is bounded by
 * `timeoutMs` and the caller's signal.
 */
export function createWechatPayApi(options: {
  baseUrl: string;
  mchid: string;
  secrets: PaymentSecrets;
  timeoutMs: number;
  now: () => number;
}) {
  const { baseUrl, mchid, secrets, timeoutMs, now } = options;

  /** One signed, verified call, as a CLIENT span named by its path (the query is never recorded). */
  function call(
    method: 'GET' | 'POST',
    pathAndQuery: string,
    body: string | undefined,
    signal?: AbortSignal,
  ) {
    const url = new URL(pathAndQuery, baseUrl);
    return tracedHttpCall({ method, url, template: url.pathname }, (span) =>
      send(span, method, url, pathAndQuery, body, signal),
    );
  }

  async function send(
    span: HttpClientSpan,
    method: 'GET' | 'POST',
    url: URL,
    pathAndQuery: string,
    body: string | undefined,
    signal?: AbortSignal,
  ) {
    const timestamp = Math.floor(now() / 1000);
    const authorization = authorizationHeader(
      { mchid, serialNo: secrets.merchantSerial(), privateKey: secrets.merchantKey() },
      { method, pathAndQuery, body: body ?? '', timestamp, nonce: createNonce() },
    );
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization,
          accept: 'application/json',
          'user-agent': 'wxmesh-payment-callback',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new ConnectError(
        `WeChat Pay did not answer (${(err as Error).name}); retry later`,
        Code.Unavailable,
      );
    }
    span.status(res.status);
    const raw = Buffer.from(await res.arrayBuffer());
    if (res.status >= 500)
      throw new ConnectError(`WeChat Pay answered ${res.status}; retry later`, Code.Unavailable);
    const verified = verifyWechatpaySignature(secrets.platformKeys(), signatureHeadersOf(res.headers), raw, {
      nowMs: now(),
    });
    if (!verified.ok) {
      throw new ConnectError(
        `WeChat Pay's answer failed verification (${verified.reason}); not trusted`,
        Code.Unavailable,
      );
    }
    const json = raw.length === 0 ? {} : (JSON.parse(raw.toString('utf8')) as Record<string, unknown>);
    if (res.status >= 400) {
      throw new WechatPayApiError(res.status, String(json.code ?? 'UNKNOWN'), String(json.message ?? ''));
    }
    return json;
  }

  // One breaker for the WeChat Pay API host: unreachable, 5xx, unverifiable or timed-out answers
  // count against it (all Unavailable); WeChat Pay's business errors (4xx) do not. While it is open
  // calls fail at once, so a WeChat Pay outage does not pile up requests waiting on timeouts.
  const breaker = createBreaker(
    'wechatpay.api',
    (signal: AbortSignal, method: 'GET' | 'POST', pathAndQuery: string, body: string | undefined) =>
      call(method, pathAndQuery, body, signal),
    {
      timeout: timeoutMs,
      isFailure: (err) => err instanceof ConnectError && err.code === Code.Unavailable,
    },
  );
  async function guarded(
    method: 'GET' | 'POST',
    pathAndQuery: string,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    try {
      return await breaker.fireWithSignal(signal, method, pathAndQuery, body);
    } catch (err) {
      if (err instanceof BreakerOpenError)
        throw new ConnectError('WeChat Pay is unavailable (circuit open); retry later', Code.Unavailable);
      if (err instanceof BreakerTimeoutError)
        throw new ConnectError('WeChat Pay did not answer in time; retry later', Code.Unavailable);
      throw err;
    }
  }

  return {
    /** Stops the breaker's timers. */
    close: () => breaker.shutdown(),
    /** Places a JSAPI order; resolves with the prepay_id. */
    async createJsapiOrder(order: JsapiOrderRequest, signal?: AbortSignal): Promise<string> {
      const json = await guarded('POST', '/v3/pay/transactions/jsapi', JSON.stringify(order), signal);
      if (typeof json.prepay_id !== 'string')
        throw new ConnectError('WeChat Pay returned no prepay_id', Code.Unavailable);
      return json.prepay_id;
    },

    /** The order as WeChat Pay sees it; undefined when WeChat Pay does not know it (ORDER_NOT_EXIST). */
    async queryByOutTradeNo(
      outTradeNo: string,
      signal?: AbortSignal,
    ): Promise<TransactionResource | undefined> {
      try {
        return (await guarded(
          'GET',
          `/v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}?mchid=${encodeURIComponent(mchid)}`,
          undefined,
          signal,
        )) as unknown as TransactionResource;
      } catch (err) {
        if (err instanceof WechatPayApiError && err.code === 'ORDER_NOT_EXIST') return undefined;
        throw err;
      }
    },
  };
}

export type WechatPayApi = ReturnType<typeof createWechatPayApi>;
