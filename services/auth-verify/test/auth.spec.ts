// auth-verify end to end: real processes (the WeChat sandbox, session, auth-verify replicas) on
// real Redis and Kafka. Every span the services export and every log line they write is kept and
// scanned at the end for secrets.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { toJson } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { AuthVerifyService, RevokeReason, SessionService } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';
import {
  asGatewayUser,
  asPeer,
  collectTopic,
  type Infra,
  peerClient,
  type ServiceProcess,
  startInfra,
  startServiceProcess,
  startServiceProcesses,
  waitFor,
  withBearer,
} from '@wxmesh/testing';

const RUN = randomBytes(3).toString('hex');
const APPID = 'wx00112233445566aa';
const OTHER_APPID = 'wx99887766554433ff';
const APP_SECRET = `app-secret-${randomBytes(12).toString('hex')}`;
const ENCRYPTION_KEY = randomBytes(32).toString('base64');

let infra: Infra<{ redis: true; kafka: true }>;
let sandbox: ServiceProcess;
let session: ServiceProcess;
const auths: ServiceProcess[] = [];
/** auth-verify's grpc port, anonymous: the PUBLIC RPCs. */
let auth: Client<typeof AuthVerifyService>;
/** auth-verify's grpc port as message-router, the one peer allowed the central access_token. */
let router: Client<typeof AuthVerifyService>;
/** session's grpc port as the admin tools (ListSessions, RevokeSession for any user). */
let sessions: Client<typeof SessionService>;
let spans: Server;
const spanBodies: Buffer[] = [];
const secretsSeen = new Set<string>([APP_SECRET, ENCRYPTION_KEY]);
let authEnv: Record<string, string>;
/** Every process this file started, recorded when spawned: `after` kills them even if a start failed. */
const spawned: ChildProcess[] = [];
const record = (child: ChildProcess) => void spawned.push(child);

async function sandboxCall(method: string, path: string, body?: unknown) {
  const res = await fetch(`${sandbox.httpUrl}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${path}: ${res.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

const sessionKeys = new Set<string>();
async function jsCode(openid: string, sessionKey = randomBytes(16).toString('base64')) {
  secretsSeen.add(sessionKey);
  sessionKeys.add(sessionKey);
  const fixture = await sandboxCall('POST', '/sandbox/mp/js-codes', {
    appid: APPID,
    openid,
    session_key: sessionKey,
  });
  return fixture!.js_code as string;
}

async function calls(path: string): Promise<number> {
  const counts = (await sandboxCall('GET', '/sandbox/calls'))!;
  return (counts[path] as number | undefined) ?? 0;
}

/** Start-up limit of an auth-verify replica on an idle machine; the harness scales it with the load. */
const AUTH_START_MS = 120_000;

function startAuth() {
  return startServiceProcess('auth-verify', { env: authEnv, timeoutMs: AUTH_START_MS, onSpawn: record });
}

const errorMessages: string[] = [];
const responses: string[] = [];
/** Keeps every answer for the secret scan at the end. */
const keepResponses: Interceptor = (next) => async (req) => {
  const res = await next(req);
  if (!res.stream) responses.push(JSON.stringify(toJson(res.method.output, res.message)));
  return res;
};

/** auth-verify's http port (Connect), as the caller `as` makes it: a Bearer token or the gateway's user. */
function edgeClient(as: Interceptor, p: ServiceProcess = auths[0]!) {
  return createClient(
    AuthVerifyService,
    createConnectTransport({ baseUrl: p.httpUrl, httpVersion: '1.1', interceptors: [as, keepResponses] }),
  );
}

/** A logged-in user: their openid and session token. */
async function loggedIn(openid: string) {
  const login = await auth.login({ appid: APPID, jsCode: await jsCode(openid) });
  secretsSeen.add(login.sessionToken);
  return { openid, token: login.sessionToken, sessionId: login.sessionId };
}
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    const error = ConnectError.from(err);
    errorMessages.push(error.rawMessage);
    return Code[error.code]!;
  }
}

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  spans = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      spanBodies.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => spans.listen(0, '127.0.0.1', resolve));
  const otlp = `http://127.0.0.1:${(spans.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'auth-verify-test-'));
  writeFileSync(join(dir, 'app-secret'), `${APPID}=${APP_SECRET}\n${OTHER_APPID}=other-${APP_SECRET}\n`);
  writeFileSync(join(dir, 'encryption-key'), ENCRYPTION_KEY);
  const shared = {
    REDIS_URL: infra.redisUrl,
    KAFKA_BROKERS: infra.kafkaBrokers,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
  };
  sandbox = await startServiceProcess('wechat-sandbox', {
    env: { ...shared, SANDBOX_APPS: `${APPID}:${APP_SECRET},${OTHER_APPID}:other-${APP_SECRET}` },
    onSpawn: record,
  });
  session = await startServiceProcess('session', { env: shared, timeoutMs: 120_000, onSpawn: record });
  authEnv = {
    ...shared,
    LOG_LEVEL: 'debug',
    // The http port trusts X-WX-* (the tests play the cloud gateway) and Bearer tokens alike.
    EDGE_BEHIND_GATEWAY: 'true',
    SESSION_ADDR: session.grpcAddress,
    WECHAT_API_BASE_URL: sandbox.httpUrl,
    WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
    SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    WECHAT_TIMEOUT: '300ms',
    WECHAT_BREAKER_RESET: '1s',
  };
  auths.push(await startAuth());
  const grpc = (interceptors: Interceptor[]) =>
    createGrpcTransport({ baseUrl: `http://${auths[0]!.grpcAddress}`, interceptors });
  auth = createClient(AuthVerifyService, grpc([keepResponses]));
  router = createClient(AuthVerifyService, grpc([asPeer('message-router'), keepResponses]));
  sessions = peerClient(SessionService, session.grpcAddress, 'operator');
});

after(async () => {
  for (const child of spawned)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  spans?.close();
  await infra?.stop();
});

test('Login → VerifySession, and codes are single-use', async () => {
  const openid = `o_${RUN}_login`;
  const code = await jsCode(openid);
  const login = await auth.login({ appid: APPID, jsCode: code, attributes: { device: 'test' } });
  secretsSeen.add(login.sessionToken);
  assert.equal(login.openid, openid);
  assert.ok(login.sessionToken.length > 40);
  const verified = await auth.verifySession({ sessionToken: login.sessionToken });
  assert.deepEqual([verified.openid, verified.appid, verified.sessionId], [openid, APPID, login.sessionId]);
  const touched = await auth.verifySession({ sessionToken: login.sessionToken, touch: true });
  assert.ok(touched.expiresAt!.seconds >= verified.expiresAt!.seconds);

  assert.equal(await codeOf(auth.login({ appid: APPID, jsCode: code })), 'InvalidArgument', 'a reused code');
  assert.equal(
    (await sessions.listSessions({ openid })).sessions.length,
    1,
    'the refused login wrote nothing',
  );
  await assert.rejects(
    auth.login({ appid: APPID, jsCode: 'never-issued' }),
    (err: ConnectError) => err.code === Code.InvalidArgument && /invalid or expired/.test(err.rawMessage),
  );
  assert.equal(await codeOf(auth.login({ appid: APPID, jsCode: '' })), 'InvalidArgument', 'an empty code');
  assert.equal(await codeOf(auth.login({ appid: 'wx0000000000000000', jsCode: 'x' })), 'FailedPrecondition');
  assert.equal(
    await codeOf(auth.verifySession({ sessionToken: `${openid}.${'A'.repeat(22)}.${'B'.repeat(43)}` })),
    'Unauthenticated',
  );
});

test('DecryptUserData: verifies and decrypts with the stored session_key; a later login replaces it', async () => {
  const openid = `o_${RUN}_decrypt`;
  const first = await auth.login({ appid: APPID, jsCode: await jsCode(openid) });
  secretsSeen.add(first.sessionToken);
  const user = edgeClient(withBearer(first.sessionToken));
  const sealed = (await sandboxCall('POST', '/sandbox/mp/user-data', {
    appid: APPID,
    openid,
    data: { nickName: 'Band' },
  }))!;
  const opened = await user.decryptUserData({
    sessionToken: first.sessionToken,
    encryptedData: sealed.encryptedData as string,
    iv: sealed.iv as string,
    rawData: sealed.rawData as string,
    signature: sealed.signature as string,
  });
  assert.equal(JSON.parse(opened.dataJson).nickName, 'Band');

  const bad = (over: Record<string, string>) =>
    codeOf(
      user.decryptUserData({
        sessionToken: first.sessionToken,
        encryptedData: sealed.encryptedData as string,
        iv: sealed.iv as string,
        ...over,
      }),
    );
  assert.equal(await bad({ encryptedData: 'not*base64' }), 'InvalidArgument');
  assert.equal(await bad({ iv: 'AAAA' }), 'InvalidArgument', 'iv of the wrong length');
  assert.equal(
    await bad({ encryptedData: 'A'.repeat(64 * 1024 + 4) }),
    'InvalidArgument',
    'an oversized payload',
  );
  assert.equal(
    await bad({ rawData: sealed.rawData as string, signature: 'f'.repeat(40) }),
    'FailedPrecondition',
  );
  const foreign = (await sandboxCall('POST', '/sandbox/mp/user-data', {
    appid: APPID,
    openid,
    data: { a: 1 },
    watermarkAppid: OTHER_APPID,
  }))!;
  assert.equal(
    await bad({ encryptedData: foreign.encryptedData as string, iv: foreign.iv as string }),
    'InvalidArgument',
  );

  // wx.login again: WeChat issues a new session_key and auth-verify replaces the stored one.
  await auth.login({ appid: APPID, jsCode: await jsCode(openid) });
  await assert.rejects(
    user.decryptUserData({
      sessionToken: first.sessionToken,
      encryptedData: sealed.encryptedData as string,
      iv: sealed.iv as string,
    }),
    (err: ConnectError) => err.code === Code.FailedPrecondition && /wx\.login again/.test(err.rawMessage),
  );
});

test('GetPhoneNumber uses the central token and retries once when WeChat says it expired', async () => {
  const openid = `o_${RUN}_phone`;
  const login = await auth.login({ appid: APPID, jsCode: await jsCode(openid) });
  secretsSeen.add(login.sessionToken);
  const user = edgeClient(asGatewayUser({ openid, appid: APPID }));
  const phone = async () =>
    (await sandboxCall('POST', '/sandbox/mp/phone-codes', { appid: APPID, purePhoneNumber: '13800138000' }))!
      .code as string;
  const got = await user.getPhoneNumber({ sessionToken: login.sessionToken, code: await phone() });
  assert.deepEqual([got.purePhoneNumber, got.countryCode], ['13800138000', '86']);

  // Two hours pass at WeChat: the cached token is now expired there (42001), though not yet by our clock.
  const fetchesBefore = await calls('/cgi-bin/stable_token');
  await sandboxCall('POST', '/sandbox/mp/clock', { advanceMs: 7_300_000 });
  const again = await user.getPhoneNumber({ sessionToken: login.sessionToken, code: await phone() });
  assert.equal(again.purePhoneNumber, '13800138000');
  assert.equal(
    await calls('/cgi-bin/stable_token'),
    fetchesBefore + 1,
    'one refresh, then the retry succeeded',
  );
  assert.equal(
    await codeOf(user.getPhoneNumber({ sessionToken: login.sessionToken, code: 'no-such-code' })),
    'InvalidArgument',
  );
});

test('DecryptUserData and GetPhoneNumber act only with the caller’s own session token', async () => {
  const a = await loggedIn(`o_${RUN}_own_a`);
  const b = await loggedIn(`o_${RUN}_own_b`);
  const sealed = (await sandboxCall('POST', '/sandbox/mp/user-data', {
    appid: APPID,
    openid: b.openid,
    data: { nickName: 'B' },
  }))!;
  const decrypt = (client: Client<typeof AuthVerifyService>, sessionToken: string) =>
    client.decryptUserData({
      sessionToken,
      encryptedData: sealed.encryptedData as string,
      iv: sealed.iv as string,
    });
  const asA = edgeClient(withBearer(a.token));
  await assert.rejects(
    decrypt(asA, b.token),
    (err: ConnectError) =>
      err.code === Code.PermissionDenied && /session_token names another user/.test(err.rawMessage),
    "A's Bearer with B's session_token",
  );
  assert.equal(
    await codeOf(decrypt(edgeClient(asGatewayUser({ openid: a.openid, appid: APPID })), b.token)),
    'PermissionDenied',
    "A through the gateway with B's session_token",
  );
  assert.equal(
    await codeOf(
      decrypt(
        edgeClient((next) => next),
        b.token,
      ),
    ),
    'Unauthenticated',
    'no identity at the edge',
  );
  assert.equal(await codeOf(decrypt(auth, b.token)), 'Unauthenticated', 'over grpc without a peer');
  assert.equal(JSON.parse((await decrypt(edgeClient(withBearer(b.token)), b.token)).dataJson).nickName, 'B');

  const code = (await sandboxCall('POST', '/sandbox/mp/phone-codes', {
    appid: APPID,
    purePhoneNumber: '13900139000',
  }))!.code as string;
  assert.equal(
    await codeOf(asA.getPhoneNumber({ sessionToken: b.token, code })),
    'PermissionDenied',
    "A with B's session_token",
  );
  const own = await edgeClient(withBearer(b.token)).getPhoneNumber({ sessionToken: b.token, code });
  assert.equal(own.purePhoneNumber, '13900139000', 'the refused call did not spend the single-use code');
});

test('Login behind the gateway: only for the gateway’s own mini-program and user', async () => {
  const owner = `o_${RUN}_gw_owner`;
  const asOwner = (appid: string) => edgeClient(asGatewayUser({ openid: owner, appid }));
  const code = await jsCode(owner);
  const exchanges = await calls('/sns/jscode2session');
  await assert.rejects(
    asOwner(OTHER_APPID).login({ appid: APPID, jsCode: code }),
    (err: ConnectError) => err.code === Code.PermissionDenied && /not the mini-program/.test(err.rawMessage),
    'another mini-program than the gateway’s',
  );
  assert.equal(await calls('/sns/jscode2session'), exchanges, 'the refused login did not spend the code');
  const login = await asOwner(APPID).login({ appid: APPID, jsCode: code });
  secretsSeen.add(login.sessionToken);
  assert.equal(login.openid, owner, 'the same code, now from its owner');

  const other = edgeClient(asGatewayUser({ openid: `o_${RUN}_gw_other`, appid: APPID }));
  await assert.rejects(
    other.login({ appid: APPID, jsCode: await jsCode(owner) }),
    (err: ConnectError) =>
      err.code === Code.PermissionDenied &&
      /another WeChat user/.test(err.rawMessage) &&
      !err.rawMessage.includes(owner),
    'a code WeChat says is another user’s',
  );
  assert.equal(
    (await sessions.listSessions({ openid: owner })).sessions.length,
    1,
    'the refused login created no session',
  );
});

test('GetAccessToken and InvalidateAccessToken: absent from the http port; on grpc for message-router only', async () => {
  const user = await loggedIn(`o_${RUN}_internal`);
  const rpc = (method: string) =>
    fetch(`${auths[0]!.httpUrl}/wxmesh.auth.v1.AuthVerifyService/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
      body: JSON.stringify({ appid: APPID, accessToken: 'any' }),
    });
  const unknown = await rpc('NoSuchMethod');
  for (const method of ['GetAccessToken', 'InvalidateAccessToken']) {
    const res = await rpc(method);
    assert.equal(res.status, 404, `${method} on the http port`);
    assert.equal(res.status, unknown.status, 'exactly like an unknown method');
  }
  for (const as of [withBearer(user.token), asGatewayUser({ openid: user.openid, appid: APPID })]) {
    assert.equal(await codeOf(edgeClient(as).getAccessToken({ appid: APPID })), 'NotFound');
  }

  assert.equal(await codeOf(auth.getAccessToken({ appid: APPID })), 'Unauthenticated', 'no peer');
  const asSession = peerClient(AuthVerifyService, auths[0]!.grpcAddress, 'session');
  assert.equal(await codeOf(asSession.getAccessToken({ appid: APPID })), 'PermissionDenied', 'peer session');
  assert.equal(
    await codeOf(asSession.invalidateAccessToken({ appid: APPID, accessToken: 'any' })),
    'PermissionDenied',
  );
  const token = await router.getAccessToken({ appid: APPID });
  secretsSeen.add(token.accessToken);
});

test('Bearer at this edge: a user verifies only their own token, and a revoked token is Unauthenticated', async () => {
  const a = await loggedIn(`o_${RUN}_bearer_a`);
  const b = await loggedIn(`o_${RUN}_bearer_b`);
  const asA = edgeClient(withBearer(a.token));
  assert.equal((await asA.verifySession({ sessionToken: a.token })).openid, a.openid);
  assert.equal(await codeOf(asA.verifySession({ sessionToken: b.token })), 'PermissionDenied');
  const { revoked } = await sessions.revokeSession({
    target: { case: 'sessionToken', value: a.token },
    reason: RevokeReason.REVOCATION,
  });
  assert.ok(revoked);
  // The body names B's live token: only the revoked Bearer can make the call Unauthenticated.
  await waitFor(
    async () => (await codeOf(asA.verifySession({ sessionToken: b.token }))) === 'Unauthenticated',
    {
      timeoutMs: 5_000,
      message: 'the revoked Bearer is refused once the revocation reached the cache',
    },
  );
  assert.ok(errorMessages.at(-1)!.includes('log in again'));
  assert.equal(
    (await edgeClient(withBearer(b.token)).verifySession({ sessionToken: b.token })).openid,
    b.openid,
  );
});

test('OAuth: 20 concurrent refreshes with one token give one winner; reusing a spent token later revokes the chain', async () => {
  const openid = `o_${RUN}_oauth`;
  const code = (await sandboxCall('POST', '/sandbox/mp/oauth-codes', {
    appid: APPID,
    openid,
    scope: 'snsapi_userinfo',
  }))!.code as string;
  const { grant } = await auth.exchangeOAuthCode({ appid: APPID, code });
  secretsSeen.add(grant!.refreshToken);
  secretsSeen.add(grant!.accessToken);
  assert.deepEqual(grant!.scopes, ['snsapi_userinfo']);
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () =>
      auth.refreshOAuthToken({ appid: APPID, refreshToken: grant!.refreshToken }),
    ),
  );
  const winners = results.filter((r) => r.status === 'fulfilled');
  assert.equal(winners.length, 1, 'exactly one winner');
  for (const r of results)
    if (r.status === 'rejected') assert.equal(ConnectError.from(r.reason).code, Code.Aborted);
  const next = (winners[0] as PromiseFulfilledResult<{ grant?: { refreshToken: string } }>).value.grant!
    .refreshToken;
  secretsSeen.add(next);
  assert.notEqual(next, grant!.refreshToken);

  // Outside the concurrency grace, presenting the spent token again is a reuse: the chain dies.
  await waitFor(
    async () =>
      (await codeOf(auth.refreshOAuthToken({ appid: APPID, refreshToken: grant!.refreshToken }))) ===
      'Unauthenticated',
    {
      timeoutMs: 5_000,
      message: 'the spent token is refused once the grace has passed',
    },
  );
  assert.equal(
    await codeOf(auth.refreshOAuthToken({ appid: APPID, refreshToken: next })),
    'Unauthenticated',
    'the whole chain is revoked',
  );
});

test('8 replicas: one token fetch for a cold app, one refresh for 50 reports of a dead token', async () => {
  // One replica that fails to start kills the other six at once (started or not) and fails the test
  // with its output; they are recorded as they spawn, so none outlives the file either way.
  const more = await startServiceProcesses(
    Array.from({ length: 7 }, () => ({
      name: 'auth-verify',
      options: { env: authEnv, timeoutMs: AUTH_START_MS, onSpawn: record },
    })),
  );
  auths.push(...more);
  const clients = auths
    .slice(0, 8)
    .map((p) => peerClient(AuthVerifyService, p.grpcAddress, 'message-router'));

  // OTHER_APPID is cold: all 8 ask at once. On a busy machine the replicas can take longer to start
  // than the first one's proactive refresh interval, which warms every configured app, so drop its
  // stored token first (the background refresh, if it fires now, joins the same single fetch).
  const redis = new Redis(infra.redisUrl);
  try {
    await redis.del(`wxm:auth:{${OTHER_APPID}}:access_token`);
  } finally {
    redis.disconnect();
  }
  const coldBefore = await calls('/cgi-bin/stable_token');
  const cold = await Promise.all(clients.map((c) => c.getAccessToken({ appid: OTHER_APPID })));
  assert.equal(await calls('/cgi-bin/stable_token'), coldBefore + 1, 'exactly one fetch from WeChat');
  assert.equal(new Set(cold.map((t) => t.accessToken)).size, 1, 'all 8 got the same token');
  secretsSeen.add(cold[0]!.accessToken);
  // Make WeChat's current token expire (by WeChat's clock and ours): advance past its life.
  await sandboxCall('POST', '/sandbox/mp/clock', { advanceMs: 7_300_000 });
  const first = await router.getAccessToken({ appid: APPID });
  const dead = first.accessToken;
  secretsSeen.add(dead);
  const before = await calls('/cgi-bin/stable_token');
  const invalidations = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      clients[i % clients.length]!.invalidateAccessToken({ appid: APPID, accessToken: dead }),
    ),
  );
  assert.equal(
    invalidations.filter((r) => r.refreshed).length,
    1,
    'one refresh for 50 reports of one dead token',
  );
  assert.equal(await calls('/cgi-bin/stable_token'), before + 1);
  const fresh = new Set(invalidations.map((r) => r.accessToken));
  assert.equal(fresh.size, 1, 'everyone got the same new token');
  assert.ok(!fresh.has(dead));
  for (const t of fresh) secretsSeen.add(t);

  const tokens = await Promise.all(clients.map((c) => c.getAccessToken({ appid: APPID })));
  assert.equal(new Set(tokens.map((t) => t.accessToken)).size, 1, 'all 8 replicas share one token');
  assert.equal(await calls('/cgi-bin/stable_token'), before + 1, 'and none fetched its own');
});

test('SignJsapi: WeChat accepts the signature; the #fragment is not signed', async () => {
  const url = 'https://shop.example.com/pay?x=1#section';
  const signed = await auth.signJsapi({ appid: APPID, url });
  assert.equal(signed.signedUrl, 'https://shop.example.com/pay?x=1');
  const verdict = await sandboxCall('POST', '/sandbox/mp/jsapi/verify', {
    appid: APPID,
    url,
    noncestr: signed.nonceStr,
    timestamp: Number(signed.timestamp),
    signature: signed.signature,
  });
  assert.equal(verdict!.valid, true);
});

test('WeChat down: the breaker opens, Login fails fast with Unavailable, VerifySession still works, then it heals', async () => {
  const openid = `o_${RUN}_breaker`;
  const login = await auth.login({ appid: APPID, jsCode: await jsCode(openid) });
  secretsSeen.add(login.sessionToken);
  await sandboxCall('POST', '/sandbox/faults', { path: '/sns/jscode2session', status: 503 });
  let fastMs = Number.POSITIVE_INFINITY;
  await waitFor(
    async () => {
      const started = performance.now();
      const code = await codeOf(auth.login({ appid: APPID, jsCode: await jsCode(openid) }));
      const ms = performance.now() - started;
      assert.equal(code, 'Unavailable');
      if ((await calls('/sns/jscode2session')) > 0 && ms < fastMs) fastMs = ms;
      return ms < 50;
    },
    { timeoutMs: 10_000, message: 'Login fails fast once the breaker is open' },
  );
  assert.ok(fastMs < 50, `Login answered Unavailable in ${fastMs.toFixed(1)} ms while open`);
  assert.equal(
    (await auth.verifySession({ sessionToken: login.sessionToken })).openid,
    openid,
    'VerifySession unaffected',
  );

  await sandboxCall('DELETE', '/sandbox/faults');
  await waitFor(
    async () => (await codeOf(auth.login({ appid: APPID, jsCode: await jsCode(openid) }))) === 'OK',
    {
      timeoutMs: 10_000,
      message: 'Login recovers through half-open once WeChat heals',
    },
  );
});

test('UserLoggedIn, PhoneNumberBound and OAuthAuthorized are on the behaviour topic', async () => {
  const events = await collectTopic(infra.kafkaBrokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: (value) => {
      const event = decodeBehaviourEvent(value);
      return event.producer === 'auth-verify' ? event : undefined;
    },
  });
  const seen = (kind: string, openid: string) =>
    events.records.some((e) => e.payload.case === kind && e.wechat?.openid === openid);
  try {
    await waitFor(
      () =>
        seen('userLoggedIn', `o_${RUN}_login`) &&
        seen('phoneNumberBound', `o_${RUN}_phone`) &&
        seen('oauthAuthorized', `o_${RUN}_oauth`),
      { timeoutMs: 20_000, message: 'the three auth events for this run' },
    );
  } finally {
    await events.stop();
  }
});

test('no secret in any log line or exported span', async () => {
  await waitFor(() => spanBodies.length > 0, { timeoutMs: 15_000, message: 'spans were exported' });
  // The sandbox is WeChat's side and holds these secrets legitimately; the mesh's processes must not.
  const logs = [...auths, session].flatMap((p) => p.logs.map((l) => JSON.stringify(l)));
  assert.ok(logs.length > 20, 'logs were captured');
  assert.ok(errorMessages.length > 10, 'error answers were captured');
  assert.ok(responses.length > 10, 'answers were captured');
  const spanText = Buffer.concat(spanBodies).toString('latin1');
  for (const secret of secretsSeen) {
    for (const line of logs)
      assert.ok(!line.includes(secret), `a log line contains a secret: ${line.slice(0, 200)}`);
    assert.ok(!spanText.includes(secret), 'an exported span contains a secret');
    for (const message of errorMessages)
      assert.ok(!message.includes(secret), `an error message contains a secret: ${message}`);
  }
});
