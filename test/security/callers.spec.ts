import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { toJsonString, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import {
  AuthVerifyService,
  BehaviourViewService,
  EchoService,
  MessageRouterService,
  PaymentService,
  RevokeReason,
  RoutePolicy,
  SessionService,
} from '@wxmesh/contracts';
import { methodAccess, type MethodAccess } from '@wxmesh/rpc';
import { asGatewayUser, asPeer, waitFor, withBearer, type HeaderInterceptor } from '@wxmesh/testing';
import { APPID, sandboxCall, startMesh, type Domain, type Mesh } from './mesh.js';

// Who may call what, tried against real service processes on both ports. Every RPC of every
// service is called as each kind of caller; the answer each must get is derived from the RPC's
// audience in its proto, so the table below follows the contract — and an RPC without an audience
// or without a fixture here fails the suite.

const RUN = randomBytes(3).toString('hex');
const STRANGER = 'wechat-sandbox'; // a real mesh identity that no RPC lists as a peer

interface User {
  readonly openid: string;
  readonly token: string;
  readonly order: string;
}
let mesh: Mesh;
let A: User;
let B: User;
let revokedToken: string;
let expiredToken: string;

/** What a caller allowed through the kit gets from the handler. */
type Answer = 'OK' | Code;

interface Fixture {
  readonly domain: Domain;
  /** A request acting on `who`'s data; credentials that are single-use are minted per call. */
  request(who: User): Promise<unknown> | unknown;
  /** What user A gets when the body names B's data; undefined when the RPC names no user. */
  readonly namingOther?: Answer;
  /** What an allowed caller gets (OK unless the handler does not exist yet). */
  readonly allowed?: Answer;
}

const jsCode = async (openid: string) =>
  (await sandboxCall(mesh, '/sandbox/mp/js-codes', { appid: APPID, openid })).js_code as string;
const oauthCode = async (openid: string) =>
  (await sandboxCall(mesh, '/sandbox/mp/oauth-codes', { appid: APPID, openid, scope: 'snsapi_base' }))
    .code as string;
const meshClient = <S extends DescService>(desc: S, domain: Domain, ...interceptors: HeaderInterceptor[]) =>
  createClient(
    desc,
    createGrpcTransport({ baseUrl: `http://${mesh.gateway[domain].grpcAddress}`, interceptors }),
  );
const today = () => new Date().toISOString().slice(0, 10);
const id = () => randomBytes(6).toString('hex');

const FIXTURES: Record<string, Fixture> = {
  'AuthVerifyService/Login': {
    domain: 'auth-verify',
    request: async (who) => ({ appid: APPID, jsCode: await jsCode(who.openid) }),
    namingOther: Code.PermissionDenied,
  },
  'AuthVerifyService/VerifySession': {
    domain: 'auth-verify',
    request: (who) => ({ sessionToken: who.token }),
    namingOther: Code.PermissionDenied,
  },
  'AuthVerifyService/DecryptUserData': {
    domain: 'auth-verify',
    request: async (who) => {
      const sealed = await sandboxCall(mesh, '/sandbox/mp/user-data', {
        appid: APPID,
        openid: who.openid,
        data: { nickName: 'n' },
      });
      return { sessionToken: who.token, encryptedData: sealed.encryptedData, iv: sealed.iv };
    },
    namingOther: Code.PermissionDenied,
  },
  'AuthVerifyService/GetPhoneNumber': {
    domain: 'auth-verify',
    request: async (who) => ({
      sessionToken: who.token,
      code: (
        await sandboxCall(mesh, '/sandbox/mp/phone-codes', { appid: APPID, purePhoneNumber: '13800138000' })
      ).code,
    }),
    namingOther: Code.PermissionDenied,
  },
  'AuthVerifyService/ExchangeOAuthCode': {
    domain: 'auth-verify',
    // A web page's OAuth login: the code is the credential, for an account of its own.
    request: async (who) => ({ appid: APPID, code: await oauthCode(who.openid) }),
  },
  'AuthVerifyService/RefreshOAuthToken': {
    domain: 'auth-verify',
    request: async (who) => {
      const auth = meshClient(AuthVerifyService, 'auth-verify');
      const { grant } = await auth.exchangeOAuthCode({ appid: APPID, code: await oauthCode(who.openid) });
      return { appid: APPID, refreshToken: grant!.refreshToken };
    },
  },
  'AuthVerifyService/SignJsapi': {
    domain: 'auth-verify',
    request: () => ({ appid: APPID, url: 'https://shop.example.com/page?x=1' }),
  },
  'AuthVerifyService/GetAccessToken': { domain: 'auth-verify', request: () => ({ appid: APPID }) },
  'AuthVerifyService/InvalidateAccessToken': {
    domain: 'auth-verify',
    request: async () => {
      const auth = meshClient(AuthVerifyService, 'auth-verify', asPeer('message-router'));
      return { appid: APPID, accessToken: (await auth.getAccessToken({ appid: APPID })).accessToken };
    },
  },
  'SessionService/CreateSession': {
    domain: 'session',
    request: (who) => ({ appid: APPID, openid: who.openid }),
  },
  'SessionService/GetSession': { domain: 'session', request: (who) => ({ sessionToken: who.token }) },
  'SessionService/TouchSession': { domain: 'session', request: (who) => ({ sessionToken: who.token }) },
  'SessionService/RevokeSession': {
    domain: 'session',
    // A session of its own each time: the users' main sessions serve the other calls.
    request: async (who) => {
      const sessions = meshClient(SessionService, 'session', asPeer('auth-verify'));
      const { session } = await sessions.createSession({ appid: APPID, openid: who.openid });
      return {
        target: { case: 'session', value: { openid: who.openid, sessionId: session!.sessionId } },
        reason: RevokeReason.LOGOUT,
      };
    },
    namingOther: Code.PermissionDenied,
  },
  'SessionService/ListSessions': {
    domain: 'session',
    request: (who) => ({ openid: who.openid }),
    namingOther: Code.PermissionDenied,
  },
  'SessionService/GetPresence': { domain: 'session', request: (who) => ({ openid: who.openid }) },
  'SessionService/GetPresenceBatch': { domain: 'session', request: (who) => ({ openids: [who.openid] }) },
  'SessionService/Attach': {
    domain: 'session',
    request: (who) => ({ sessionToken: who.token }),
    namingOther: Code.PermissionDenied,
  },
  'SessionService/Deliver': {
    domain: 'session',
    request: (who) => ({
      openid: who.openid,
      deliveryId: `d-${id()}`,
      kind: 'test.ping',
      payload: new Uint8Array(),
    }),
  },
  'PaymentService/CreateJsapiOrder': {
    domain: 'payment-callback',
    request: (who) => ({
      appid: APPID,
      openid: who.openid,
      outTradeNo: `T${id()}`,
      amountTotal: 100,
      description: 'x',
    }),
  },
  'PaymentService/GetPaymentParams': {
    domain: 'payment-callback',
    request: (who) => ({ outTradeNo: who.order }),
    // Another user's order is as unknown as an order that does not exist.
    namingOther: Code.NotFound,
  },
  'PaymentService/GetPayment': {
    domain: 'payment-callback',
    request: (who) => ({ outTradeNo: who.order }),
    namingOther: Code.NotFound,
  },
  'BehaviourViewService/GetUserJourney': {
    domain: 'behaviour-projector',
    request: (who) => ({ openid: who.openid }),
    namingOther: Code.PermissionDenied,
  },
  'BehaviourViewService/GetFunnel': {
    domain: 'behaviour-projector',
    request: () => ({ appid: APPID, startDate: today(), endDate: today() }),
  },
  'MessageRouterService/RouteMessage': {
    domain: 'message-router',
    request: (who) => ({
      appid: APPID,
      messageId: `m-${id()}`,
      openids: [who.openid],
      policy: RoutePolicy.IN_APP_ONLY,
      inApp: { kind: 'test.ping', payload: new Uint8Array() },
    }),
  },
  'MessageRouterService/SendSubscribeMessages': {
    domain: 'message-router',
    request: (who) => ({
      appid: APPID,
      messageId: `m-${id()}`,
      messages: [{ openid: who.openid, content: { templateId: 'tpl_1', data: { thing1: 'x' } } }],
    }),
  },
  'MessageRouterService/GetDelivery': {
    domain: 'message-router',
    request: () => ({ deliveryId: `d-${id()}` }),
    // An unknown id: the handler ran and looked it up.
    allowed: Code.NotFound,
  },
  'EchoService/Echo': { domain: 'session', request: () => ({ message: 'hi' }) },
  'EchoService/EchoStream': { domain: 'session', request: () => ({ message: 'hi' }) },
};

const SERVICES: DescService[] = [
  AuthVerifyService,
  SessionService,
  PaymentService,
  BehaviourViewService,
  MessageRouterService,
  EchoService,
];
const key = (method: DescMethod) => `${method.parent.name}/${method.name}`;

/** One way of calling: which port of which instance, as whom, about whose data. */
interface CallerCase {
  readonly name: string;
  readonly port: 'gateway-edge' | 'direct-edge' | 'grpc';
  readonly subject: 'A' | 'B';
  callers(access: MethodAccess): HeaderInterceptor[] | undefined;
  expected(access: MethodAccess, fixture: Fixture): Answer;
}

const atEdge = (a: MethodAccess) => a.public || a.edge;
const allowed = (f: Fixture): Answer => f.allowed ?? 'OK';
const allowedPeer = (a: MethodAccess) =>
  [...a.peers].find((p) => p !== '*') ?? (a.operator ? 'operator' : undefined);

const CASES: CallerCase[] = [
  {
    name: 'no identity (edge)',
    port: 'gateway-edge',
    subject: 'A',
    callers: () => [],
    expected: (a, f) => (!atEdge(a) ? Code.NotFound : a.public ? allowed(f) : Code.Unauthenticated),
  },
  {
    name: 'user A (gateway) on A',
    port: 'gateway-edge',
    subject: 'A',
    callers: () => [asGatewayUser({ openid: A.openid, appid: APPID })],
    expected: (a, f) => (atEdge(a) ? allowed(f) : Code.NotFound),
  },
  {
    name: 'user A (session token) on A',
    port: 'gateway-edge',
    subject: 'A',
    callers: () => [withBearer(A.token)],
    expected: (a, f) => (atEdge(a) ? allowed(f) : Code.NotFound),
  },
  {
    name: 'user A names user B',
    port: 'gateway-edge',
    subject: 'B',
    callers: () => [asGatewayUser({ openid: A.openid, appid: APPID })],
    expected: (a, f) => (atEdge(a) ? (f.namingOther ?? allowed(f)) : Code.NotFound),
  },
  {
    name: 'forged X-WX-OPENID, no gateway',
    port: 'direct-edge',
    subject: 'A',
    callers: () => [asGatewayUser({ openid: A.openid, appid: APPID })],
    expected: (a) => (atEdge(a) ? Code.Unauthenticated : Code.NotFound),
  },
  {
    name: 'revoked session token',
    port: 'gateway-edge',
    subject: 'A',
    callers: () => [withBearer(revokedToken)],
    expected: (a) => (atEdge(a) ? Code.Unauthenticated : Code.NotFound),
  },
  {
    name: 'expired session token',
    port: 'gateway-edge',
    subject: 'A',
    callers: () => [withBearer(expiredToken)],
    expected: (a) => (atEdge(a) ? Code.Unauthenticated : Code.NotFound),
  },
  {
    name: 'no peer identity (grpc)',
    port: 'grpc',
    subject: 'A',
    callers: () => [],
    expected: (a, f) => (a.public ? allowed(f) : Code.Unauthenticated),
  },
  {
    name: 'mesh peer not allowed (grpc)',
    port: 'grpc',
    subject: 'A',
    callers: () => [asPeer(STRANGER, { openid: A.openid })],
    expected: (a, f) => (a.public ? allowed(f) : Code.PermissionDenied),
  },
  {
    name: 'allowed mesh peer (grpc)',
    port: 'grpc',
    subject: 'A',
    callers: (a) => {
      const peer = allowedPeer(a);
      return peer === undefined ? undefined : [asPeer(peer, { openid: A.openid })];
    },
    expected: (_a, f) => allowed(f),
  },
];

function transport(domain: Domain, port: CallerCase['port'], interceptors: HeaderInterceptor[]): Transport {
  if (port === 'grpc')
    return createGrpcTransport({ baseUrl: `http://${mesh.gateway[domain].grpcAddress}`, interceptors });
  const target = port === 'gateway-edge' ? mesh.gateway[domain] : mesh.direct[domain];
  return createConnectTransport({ baseUrl: target.httpUrl, httpVersion: '1.1', interceptors });
}

/** Calls one RPC; a server stream counts as answered once its first message arrives. */
async function call(
  method: DescMethod,
  t: Transport,
  request: unknown,
): Promise<{ answer: Answer; text: string }> {
  const client = createClient(method.parent, t) as unknown as Record<
    string,
    (request: unknown, options: { signal: AbortSignal }) => Promise<never> | AsyncIterable<never>
  >;
  const controller = new AbortController();
  try {
    const result = client[method.localName]!(request, { signal: controller.signal });
    if (method.methodKind === 'server_streaming') {
      for await (const first of result as AsyncIterable<never>) {
        controller.abort();
        return { answer: 'OK', text: toJsonString(method.output, first) };
      }
      return { answer: 'OK', text: '' };
    }
    return { answer: 'OK', text: toJsonString(method.output, await (result as Promise<never>)) };
  } catch (err) {
    const error = ConnectError.from(err);
    return { answer: error.code, text: error.rawMessage };
  }
}

const show = (answer: Answer) => (answer === 'OK' ? 'OK' : Code[answer]);

before(async () => {
  mesh = await startMesh();
  const auth = meshClient(AuthVerifyService, 'auth-verify');
  const login = async (name: string) => {
    const openid = `o_${RUN}_${name}`;
    const answer = await auth.login({ appid: APPID, jsCode: await jsCode(openid) });
    return { openid, token: answer.sessionToken };
  };
  const payments = meshClient(PaymentService, 'payment-callback', asPeer('business-backend'));
  const order = async (openid: string) => {
    const outTradeNo = `T${RUN}${id()}`;
    await payments.createJsapiOrder({
      appid: APPID,
      openid,
      outTradeNo,
      amountTotal: 1999,
      description: 'order',
    });
    return outTradeNo;
  };
  const [a, b, revoked] = await Promise.all([login('alice'), login('bob'), login('mallory')]);
  A = { ...a, order: await order(a.openid) };
  B = { ...b, order: await order(b.openid) };
  revokedToken = revoked.token;
  await meshClient(SessionService, 'session', asPeer('operator')).revokeSession({
    target: { case: 'sessionToken', value: revokedToken },
    reason: RevokeReason.REVOCATION,
  });
  // A session on the short-lived replica, then waited out: an expired token nobody revoked.
  const shortLived = createClient(
    SessionService,
    createGrpcTransport({
      baseUrl: `http://${mesh.shortSessions.grpcAddress}`,
      interceptors: [asPeer('auth-verify')],
    }),
  );
  expiredToken = (await shortLived.createSession({ appid: APPID, openid: `o_${RUN}_expired` })).sessionToken;
  await waitFor(
    async () =>
      (
        await call(SessionService.method.getSession, transport('session', 'grpc', [asPeer('auth-verify')]), {
          sessionToken: expiredToken,
        })
      ).answer === Code.NotFound,
    { timeoutMs: 60_000, intervalMs: 200, message: 'the short-lived session to expire' },
  );
});

after(async () => {
  await mesh?.stop();
});

describe('who may call what, on both ports, as the protos declare', () => {
  test('every RPC of every service declares an audience and has a fixture here', () => {
    const missing = SERVICES.flatMap((s) => s.methods)
      .filter((m) => FIXTURES[key(m)] === undefined)
      .map(key);
    assert.deepEqual(missing, [], 'add a fixture for each new RPC');
    for (const method of SERVICES.flatMap((s) => s.methods)) methodAccess(method);
  });

  const table: string[] = [];
  for (const service of SERVICES) {
    for (const method of service.methods) {
      test(`${key(method)}: every kind of caller gets the documented answer, and nobody sees B's data`, async () => {
        const access = methodAccess(method);
        const fixture = FIXTURES[key(method)]!;
        const row: string[] = [];
        const wrong: string[] = [];
        for (const c of CASES) {
          const interceptors = c.callers(access);
          if (interceptors === undefined) {
            row.push('-');
            continue;
          }
          const expected = c.expected(access, fixture);
          const request = await fixture.request(c.subject === 'A' ? A : B);
          const { answer, text } = await call(
            method,
            transport(fixture.domain, c.port, interceptors),
            request,
          );
          row.push(show(answer));
          if (answer !== expected)
            wrong.push(`${c.name}: got ${show(answer)} (${text}), expected ${show(expected)}`);
          if (c.subject === 'B' && answer === 'OK' && fixture.namingOther !== undefined) {
            wrong.push(`${c.name}: answered with B's data`);
          }
          for (const secret of [B.token, ...mesh.secrets]) {
            if (text.includes(secret)) wrong.push(`${c.name}: the answer contains a secret`);
          }
          if (c.subject === 'A' && text.includes(B.openid)) wrong.push(`${c.name}: the answer names B`);
        }
        table.push(`${key(method).padEnd(44)} ${row.map((r) => r.padEnd(18)).join('')}`);
        assert.deepEqual(wrong, []);
      });
    }
  }

  test('prints the table of answers', (t) => {
    t.diagnostic(`${''.padEnd(44)} ${CASES.map((c) => c.name.slice(0, 17).padEnd(18)).join('')}`);
    for (const line of table) t.diagnostic(line);
    assert.equal(
      table.length,
      SERVICES.reduce((n, s) => n + s.methods.length, 0),
    );
  });
});

describe('prices and tokens stay inside', () => {
  test('no edge call creates an order; GetAccessToken and InvalidateAccessToken are on no http port', async () => {
    for (const domain of [
      'payment-callback',
      'auth-verify',
      'session',
      'behaviour-projector',
      'message-router',
    ] as const) {
      for (const instance of [mesh.gateway[domain], mesh.direct[domain]]) {
        for (const path of [
          '/wxmesh.payment.v1.PaymentService/CreateJsapiOrder',
          '/wxmesh.auth.v1.AuthVerifyService/GetAccessToken',
          '/wxmesh.auth.v1.AuthVerifyService/InvalidateAccessToken',
        ]) {
          const res = await fetch(`${instance.httpUrl}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-wx-openid': A.openid },
            body: JSON.stringify({
              appid: APPID,
              openid: A.openid,
              outTradeNo: `T${id()}`,
              amountTotal: 1,
              description: 'x',
            }),
          });
          assert.equal(res.status, 404, `${domain} ${path}`);
          assert.equal(((await res.json()) as { code: string }).code, 'not_found');
        }
      }
    }
  });

  test('the amount a user pays is the one the business backend set', async () => {
    const payments = createClient(
      PaymentService,
      transport('payment-callback', 'gateway-edge', [asGatewayUser({ openid: A.openid, appid: APPID })]),
    );
    const { payment, requestPayment } = await payments.getPaymentParams({ outTradeNo: A.order });
    assert.equal(payment?.amountTotal, 1999);
    assert.equal(payment?.openid, A.openid);
    assert.match(requestPayment?.package ?? '', /^prepay_id=/);
  });
});
