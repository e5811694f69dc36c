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

/** What the WeChat Pay API client needs: the host, the merchant, its keys, a bound and a clock. */
export interface WechatPayApiOptions {
  baseUrl: string;
  mchid: string;
  secrets: PaymentSecrets;
  timeoutMs: number;
  now: () => number;
}

/** One APIv3 request: method, path with its query (both signed), and a JSON body for POST. */
interface PayRequest {
  method: 'GET' | 'POST';
  pathAndQuery: string;
  body?: string;
}

type PayAnswer = Record<string, unknown>;

/** The request's `Authorization` header: signed with the merchant key over a fresh nonce and time. */
function authorizationFor(options: WechatPayApiOptions, request: PayRequest): string {
  const { mchid, secrets, now } = options;
  return authorizationHeader(
    { mchid, serialNo: secrets.merchantSerial(), privateKey: secrets.merchantKey() },
    {
      method: request.method,
      pathAndQuery: request.pathAndQuery,
      body: request.body ?? '',
      timestamp: Math.floor(now() / 1000),
      nonce: createNonce(),
    },
  );
}

/** Sends the signed request, bounded by `timeoutMs` and `signal`; no answer at all is Unavailable. */
async function sendSigned(
  options: WechatPayApiOptions,
  request: PayRequest,
  url: URL,
  signal?: AbortSignal,
): Promise<Response> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  try {
    return await fetch(url, {
      method: request.method,
      headers: {
        authorization: authorizationFor(options, request),
        accept: 'application/json',
        'user-agent': 'wxmesh-payment-callback',
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: request.body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    throw new ConnectError(
      `WeChat Pay did not answer (${(err as Error).name}); retry later`,
      Code.Unavailable,
    );
  }
}

/**
 * The answer's JSON, believed only once its signature verifies over the raw bytes with the
 * platform keys: 5xx and unverifiable answers are Unavailable, 4xx a {@link WechatPayApiError}.
 */
function verifiedAnswer(options: WechatPayApiOptions, res: Response, raw: Buffer): PayAnswer {
  if (res.status >= 500)
    throw new ConnectError(`WeChat Pay answered ${res.status}; retry later`, Code.Unavailable);
  const verified = verifyWechatpaySignature(
    options.secrets.platformKeys(),
    signatureHeadersOf(res.headers),
    raw,
    {
      nowMs: options.now(),
    },
  );
  if (!verified.ok)
    throw new ConnectError(
      `WeChat Pay's answer failed verification (${verified.reason}); not trusted`,
      Code.Unavailable,
    );
  const json = raw.length === 0 ? {} : (JSON.parse(raw.toString('utf8')) as PayAnswer);
  if (res.status >= 400)
    throw new WechatPayApiError(res.status, String(json.code ?? 'UNKNOWN'), String(json.message ?? ''));
  return json;
}

/** One signed, verified call, as a CLIENT span named by its path (the query is never recorded). */
function signedCall(
  options: WechatPayApiOptions,
  request: PayRequest,
  signal?: AbortSignal,
): Promise<PayAnswer> {
  const url = new URL(request.pathAndQuery, options.baseUrl);
  return tracedHttpCall(
    { method: request.method, url, template: url.pathname },
    async (span: HttpClientSpan) => {
      const res = await sendSigned(options, request, url, signal);
      span.status(res.status);
      return verifiedAnswer(options, res, Buffer.from(await res.arrayBuffer()));
    },
  );
}

/**
 * One breaker for the WeChat Pay API host: unreachable, 5xx, unverifiable or timed-out answers
 * count against it (all Unavailable); WeChat Pay's business errors (4xx) do not. While it is open
 * calls fail at once, so a WeChat Pay outage does not pile up requests waiting on timeouts.
 */
function createPayApiBreaker(options: WechatPayApiOptions) {
  return createBreaker(
    'wechatpay.api',
    (signal: AbortSignal, request: PayRequest) => signedCall(options, request, signal),
    {
      timeout: options.timeoutMs,
      isFailure: (err) => err instanceof ConnectError && err.code === Code.Unavailable,
    },
  );
}

type PayApiBreaker = ReturnType<typeof createPayApiBreaker>;

/** A call through the breaker; an open breaker or its timeout is Unavailable. */
async function guardedCall(
  breaker: PayApiBreaker,
  request: PayRequest,
  signal?: AbortSignal,
): Promise<PayAnswer> {
  try {
    return await breaker.fireWithSignal(signal, request);
  } catch (err) {
    if (err instanceof BreakerOpenError)
      throw new ConnectError('WeChat Pay is unavailable (circuit open); retry later', Code.Unavailable);
    if (err instanceof BreakerTimeoutError)
      throw new ConnectError('WeChat Pay did not answer in time; retry later', Code.Unavailable);
    throw err;
  }
}

/**
 * The WeChat Pay APIv3 calls payment-callback makes: every request signed with the merchant key,
 * every answer's signature verified over its raw bytes with the platform keys before it is
 * believed (an unverifiable answer is Unavailable, never used). Each call is bounded by
 * `timeoutMs` and the caller's signal, behind one circuit breaker.
 */
export function createWechatPayApi(options: WechatPayApiOptions) {
  const breaker = createPayApiBreaker(options);
  const call = (request: PayRequest, signal?: AbortSignal) => guardedCall(breaker, request, signal);
  return {
    /** Stops the breaker's timers. */
    close: () => breaker.shutdown(),

    /** Places a JSAPI order; resolves with the prepay_id. */
    async createJsapiOrder(order: JsapiOrderRequest, signal?: AbortSignal): Promise<string> {
      const body = JSON.stringify(order);
      const json = await call({ method: 'POST', pathAndQuery: '/v3/pay/transactions/jsapi', body }, signal);
      if (typeof json.prepay_id !== 'string')
        throw new ConnectError('WeChat Pay returned no prepay_id', Code.Unavailable);
      return json.prepay_id;
    },

    /** The order as WeChat Pay sees it; undefined when WeChat Pay does not know it (ORDER_NOT_EXIST). */
    async queryByOutTradeNo(
      outTradeNo: string,
      signal?: AbortSignal,
    ): Promise<TransactionResource | undefined> {
      const query = `mchid=${encodeURIComponent(options.mchid)}`;
      const pathAndQuery = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}?${query}`;
      try {
        return (await call({ method: 'GET', pathAndQuery }, signal)) as unknown as TransactionResource;
      } catch (err) {
        if (err instanceof WechatPayApiError && err.code === 'ORDER_NOT_EXIST') return undefined;
        throw err;
      }
    },
  };
}

export type WechatPayApi = ReturnType<typeof createWechatPayApi>;
