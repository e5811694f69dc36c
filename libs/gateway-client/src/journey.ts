import { randomBytes } from 'node:crypto';
import {
  AuthVerifyService,
  BehaviourViewService,
  MessageRouterService,
  PaymentService,
  PaymentState,
  PresenceStatus,
  RoutePolicy,
  SessionService,
  type AttachResponse,
} from '@wxmesh/contracts';
import { scaledTimeout, waitFor } from '@wxmesh/testing';
import { createGatewayClient, newTraceId, type GatewayCallOptions } from './client.js';
import { DEMO_APPID, localMesh, type MeshEndpoints } from './local-mesh.js';

/** The "payment received" subscribe-message template: `npm start` gives it to the router and the sandbox. */
export const PAYMENT_NOTICE_TEMPLATE = 'tpl_wxmesh_payment_received';
/** Its keywords, as the router's payment notice fills them. */
export const PAYMENT_NOTICE_KEYWORDS = ['character_string1', 'amount2', 'time3', 'thing4'];

/** One step of the journey as it ran. */
export interface JourneyStep {
  readonly name: string;
  /** What it showed, one line. */
  readonly result: string;
  /** The W3C trace of this step (look it up with `npm run trace -- <id>`). */
  readonly traceId: string;
  /** The services whose spans this step's trace holds when tracing is on (through Kafka included). */
  readonly services: readonly string[];
  readonly ms: number;
}

/** Options of {@link playJourney}. */
export interface JourneyOptions {
  /** Where the services are (default: `npm start`'s ports). */
  readonly endpoints?: MeshEndpoints;
  /** The WeChat sandbox's http URL (default: `npm start`'s). */
  readonly sandboxUrl?: string;
  readonly appid?: string;
  /** The user (default: a fresh `o_journey_…` each run, so runs do not mix). */
  readonly openid?: string;
  /** Called as each step finishes. */
  readonly onStep?: (step: JourneyStep) => void;
}

/** Everything a step may use: the user, the clients, the sandbox, and what earlier steps made. */
interface Journey {
  readonly appid: string;
  readonly openid: string;
  readonly endpoints: MeshEndpoints;
  readonly sandbox: (path: string, body?: unknown, headers?: Record<string, string>) => Promise<unknown>;
  sessionToken?: string;
  jsCode?: string;
  channel?: { stream: AsyncIterator<AttachResponse>; close: () => void };
  outTradeNo?: string;
  payTraceId?: string;
}

/** What {@link playJourney} resolves with. */
export interface JourneyResult {
  readonly openid: string;
  readonly appid: string;
  readonly steps: readonly JourneyStep[];
  /**
   * The user's credentials during the journey (the wx.login code, the session token): secrets a
   * leak check looks for in logs and spans. Never print them.
   */
  readonly credentials: readonly string[];
}

/**
 * One mini-program user's journey through the whole mesh, each step as the caller in the real
 * system makes it — the user through the cloud gateway (Connect JSON over HTTP/1.1 with
 * `X-WX-*`), the merchant's business backend and an operator as mesh peers, WeChat (the
 * sandbox) paying and notifying:
 *
 * login → decrypt user data → attach a live channel → route a message (delivered in-app) →
 * create an order and get the `wx.requestPayment` parameters → close the channel; the sandbox
 * pays and notifies → the payer gets a "payment received" subscribe message (the channel is
 * closed) → the user's journey and the day's funnel from the projector.
 *
 * Each step is one trace (its calls share a trace id). Resolves with the steps; rejects naming
 * the step that failed. Waits on the eventually consistent parts scale with the machine's load.
 */
export async function playJourney(options: JourneyOptions = {}): Promise<JourneyResult> {
  const journey: Journey = {
    appid: options.appid ?? DEMO_APPID,
    openid: options.openid ?? `o_journey_${randomBytes(6).toString('hex')}`,
    endpoints: options.endpoints ?? localMesh(),
    sandbox: sandboxClient(options.sandboxUrl ?? 'http://127.0.0.1:8090'),
  };
  const steps: JourneyStep[] = [];
  try {
    await prepareSandbox(journey);
    for (const [name, run, services] of STEPS) {
      const traceId = newTraceId();
      const began = performance.now();
      let result: string;
      try {
        result = await run(journey, traceId);
      } catch (err) {
        throw new Error(`journey step "${name}" failed (trace ${traceId}): ${(err as Error).message}`, {
          cause: err,
        });
      }
      const step = {
        name,
        result,
        services,
        traceId: name === 'payment notice' ? journey.payTraceId! : traceId,
      };
      steps.push({ ...step, ms: performance.now() - began });
      options.onStep?.(steps.at(-1)!);
    }
    const credentials = [journey.jsCode!, journey.sessionToken!];
    return { openid: journey.openid, appid: journey.appid, steps, credentials };
  } finally {
    journey.channel?.close();
  }
}

type Step = (journey: Journey, traceId: string) => Promise<string>;

const PROJECTOR = 'behaviour-projector';
/** Each step, and the services its trace reaches (the projector through Kafka). */
const STEPS: ReadonlyArray<readonly [string, Step, readonly string[]]> = [
  ['login', login, ['auth-verify', 'session', PROJECTOR]],
  ['decrypt user data', decryptUserData, ['auth-verify', 'session']],
  ['attach live channel', attachChannel, ['session', PROJECTOR]],
  ['route a message', routeMessage, ['message-router', 'session', PROJECTOR]],
  ['create an order', createOrder, ['payment-callback', PROJECTOR]],
  ['pay (sandbox notifies)', pay, ['payment-callback', 'session', PROJECTOR, 'message-router']],
  ['payment notice', paymentNotice, ['payment-callback', PROJECTOR, 'message-router']],
  ['journey and funnel', journeyAndFunnel, [PROJECTOR]],
];

/** A client acting as `as` for the journey's user, in trace `traceId`. */
function clientOf<S extends Parameters<ReturnType<typeof createGatewayClient>['client']>[0]>(
  journey: Journey,
  service: S,
  traceId: string,
  as: GatewayCallOptions['as'] = 'gateway',
) {
  const user = { openid: journey.openid, appid: journey.appid };
  return createGatewayClient(journey.endpoints).client(service, { as, user, traceId }).client;
}

/** The sandbox as WeChat's side of the story: the payment template, and the user accepting it. */
async function prepareSandbox(journey: Journey): Promise<void> {
  await journey.sandbox('/sandbox/mp/templates', {
    appid: journey.appid,
    template_id: PAYMENT_NOTICE_TEMPLATE,
    keywords: PAYMENT_NOTICE_KEYWORDS,
  });
  // The user tapped "allow" in wx.requestSubscribeMessage for the payment notice.
  await journey.sandbox('/sandbox/mp/subscriptions', {
    appid: journey.appid,
    openid: journey.openid,
    template_id: PAYMENT_NOTICE_TEMPLATE,
    kind: 'one-time',
    count: 1,
  });
}

async function login(journey: Journey, traceId: string): Promise<string> {
  // wx.login() in the mini-program: WeChat hands it a one-time code.
  const { js_code: jsCode } = (await journey.sandbox('/sandbox/mp/js-codes', {
    appid: journey.appid,
    openid: journey.openid,
  })) as { js_code: string };
  journey.jsCode = jsCode;
  const auth = clientOf(journey, AuthVerifyService, traceId);
  const answer = await auth.login({ appid: journey.appid, jsCode });
  journey.sessionToken = answer.sessionToken;
  return `session ${answer.sessionId} for ${answer.openid}`;
}

async function decryptUserData(journey: Journey, traceId: string): Promise<string> {
  // wx.getUserProfile's encryptedData and iv, sealed by WeChat with the user's session_key.
  const sealed = (await journey.sandbox('/sandbox/mp/user-data', {
    appid: journey.appid,
    openid: journey.openid,
    data: { nickName: 'Journey', city: 'Shenzhen' },
  })) as { encryptedData: string; iv: string };
  const auth = clientOf(journey, AuthVerifyService, traceId);
  const answer = await auth.decryptUserData({ sessionToken: journey.sessionToken!, ...sealed });
  const data = JSON.parse(answer.dataJson) as { nickName?: string; city?: string };
  return `nickName "${data.nickName}", city "${data.city}"`;
}

async function attachChannel(journey: Journey, traceId: string): Promise<string> {
  const closer = new AbortController();
  const session = clientOf(journey, SessionService, traceId);
  const stream = session
    .attach({ sessionToken: journey.sessionToken! }, { signal: closer.signal })
    [Symbol.asyncIterator]();
  journey.channel = { stream, close: () => closer.abort() };
  const first = await nextItem(stream, 'attached');
  return `channel ${first.channelId} on replica ${first.replicaId}`;
}

async function routeMessage(journey: Journey, traceId: string): Promise<string> {
  const router = clientOf(journey, MessageRouterService, traceId, { peer: 'business-backend' });
  const routed = await router.routeMessage({
    appid: journey.appid,
    messageId: `journey-${traceId.slice(0, 12)}`,
    openids: [journey.openid],
    policy: RoutePolicy.IN_APP_ONLY,
    inApp: { kind: 'journey.greeting', payload: new TextEncoder().encode('welcome to wxmesh') },
  });
  const delivered = await nextItem(journey.channel!.stream, 'message');
  const text = new TextDecoder().decode(delivered.payload);
  const result = routed.results[0]!;
  return `delivery ${result.deliveryId} arrived in-app on the channel: "${text}"`;
}

async function createOrder(journey: Journey, traceId: string): Promise<string> {
  journey.outTradeNo = `JRN${Date.now()}${randomBytes(3).toString('hex')}`;
  const backend = clientOf(journey, PaymentService, traceId, { peer: 'business-backend' });
  await backend.createJsapiOrder({
    appid: journey.appid,
    openid: journey.openid,
    outTradeNo: journey.outTradeNo,
    amountTotal: 990,
    description: 'wxmesh journey coffee',
  });
  // The mini-program asks for the wx.requestPayment parameters of its order.
  const payment = clientOf(journey, PaymentService, traceId);
  const { requestPayment: params } = await payment.getPaymentParams({ outTradeNo: journey.outTradeNo });
  return `order ${journey.outTradeNo}: wx.requestPayment({ package: "${params!.package}", signType: "${params!.signType}", paySign: ${params!.paySign.length} chars })`;
}

async function pay(journey: Journey, traceId: string): Promise<string> {
  // The user leaves the mini-program: the live channel closes, and the session sees them offline.
  journey.channel!.close();
  const operator = clientOf(journey, SessionService, traceId, { peer: 'operator' });
  await waitFor(
    async () =>
      (await operator.getPresence({ openid: journey.openid })).presence?.status !== PresenceStatus.ONLINE,
    { timeoutMs: scaledTimeout(15_000), message: 'the closed channel to go offline' },
  );
  journey.payTraceId = traceId;
  await journey.sandbox(
    `/sandbox/pay/orders/${journey.outTradeNo}/pay`,
    {},
    { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
  );
  const payment = clientOf(journey, PaymentService, traceId);
  let transactionId = '';
  await waitFor(
    async () => {
      const { payment: state } = await payment.getPayment({ outTradeNo: journey.outTradeNo! });
      transactionId = state?.transactionId ?? '';
      return state?.state === PaymentState.PAID;
    },
    { timeoutMs: scaledTimeout(30_000), message: 'payment-callback to apply the notification' },
  );
  return `WeChat Pay notified; order PAID, transaction ${transactionId}`;
}

async function paymentNotice(journey: Journey): Promise<string> {
  // The router consumed PaymentSucceeded from Kafka; the user is offline, so a subscribe message.
  const query = new URLSearchParams({ appid: journey.appid, openid: journey.openid });
  let notice: { template_id: string; data: Record<string, { value: string }> } | undefined;
  await waitFor(
    async () => {
      const sent = (await journey.sandbox(`/sandbox/mp/subscribe-messages?${query}`)) as Array<typeof notice>;
      notice = sent.find((m) => m?.template_id === PAYMENT_NOTICE_TEMPLATE);
      return notice !== undefined;
    },
    { timeoutMs: scaledTimeout(30_000), message: 'the "payment received" subscribe message' },
  );
  const fields = Object.entries(notice!.data).map(([k, v]) => `${k}=${v.value}`);
  return `subscribe message ${PAYMENT_NOTICE_TEMPLATE} sent by WeChat: ${fields.join(', ')}`;
}

async function journeyAndFunnel(journey: Journey, traceId: string): Promise<string> {
  const views = clientOf(journey, BehaviourViewService, traceId);
  let line = '';
  await waitFor(
    async () => {
      const { journey: mine } = await views.getUserJourney({});
      line = `journey: ${mine?.loginCount ?? 0} login, ${mine?.messagesReceived ?? 0} message, ${mine?.ordersCreated ?? 0} order, ${mine?.ordersPaid ?? 0} paid (${mine?.paidTotal ?? 0n} fen)`;
      return (mine?.ordersPaid ?? 0) >= 1;
    },
    { timeoutMs: scaledTimeout(30_000), message: 'the projector to fold the payment into the journey' },
  );
  const operator = clientOf(journey, BehaviourViewService, traceId, { peer: 'operator' });
  const today = new Date();
  const day = (offset: number) => new Date(today.getTime() + offset * 86_400_000).toISOString().slice(0, 10);
  const funnel = await operator.getFunnel({ appid: journey.appid, startDate: day(-1), endDate: day(1) });
  const sum = (key: 'loggedIn' | 'ordered' | 'paid') => funnel.days.reduce((n, d) => n + d[key], 0);
  return `${line}; funnel: ${sum('loggedIn')} logged in → ${sum('ordered')} ordered → ${sum('paid')} paid`;
}

type ChannelItem<K> = Extract<AttachResponse['item'], { case: K }>['value'];

/** The next item of `kind` on a live channel, skipping heartbeats; rejects if none comes in time. */
async function nextItem<K extends 'attached' | 'message'>(
  stream: AsyncIterator<AttachResponse>,
  kind: K,
): Promise<ChannelItem<K>> {
  const read = async (): Promise<ChannelItem<K>> => {
    for (;;) {
      const next = await stream.next();
      if (next.done) throw new Error(`the live channel ended before its ${kind}`);
      const item = next.value.item;
      if (item.case === kind) return item.value as ChannelItem<K>;
    }
  };
  const limitMs = scaledTimeout(15_000);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no ${kind} on the live channel within ${limitMs} ms`)),
      limitMs,
    );
  });
  try {
    return (await Promise.race([read(), late])) as ChannelItem<K>;
  } finally {
    clearTimeout(timer);
  }
}

function sandboxClient(base: string) {
  return async (path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${text}`);
    return text === '' ? {} : (JSON.parse(text) as unknown);
  };
}
