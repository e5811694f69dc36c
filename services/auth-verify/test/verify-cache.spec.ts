// VerifySession's cache end to end: session and two auth-verify replicas as real processes on real
// Redis and Kafka. The cache TTL is long (10 min) so only an invalidation can explain a cached
// token going Unauthenticated within the deadlines below.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { AuthVerifyService, RevokeReason, SessionService } from '@wxmesh/contracts';
import {
  codeOf,
  type Infra,
  type KafkaBroker,
  metricSum,
  peerClient,
  scaledTimeout,
  type ServiceProcess,
  startInfra,
  startKafka,
  startServiceProcess,
  waitFor,
  withBearer,
} from '@wxmesh/testing';

const RUN = randomBytes(3).toString('hex');
const APPID = 'wx00112233445566aa';
/** How fast a revocation must reach every replica: the event's trip through Kafka, with slack for 2 busy cores. */
const INVALIDATION_DEADLINE_MS = 3_000;
const FEED_STALE = 2_000;

let infra: Infra<{ redis: true; kafka: true }>;
let session: ServiceProcess;
/** session as auth-verify calls it (CreateSession is auth-verify's alone). */
let sessions: Client<typeof SessionService>;
/** session as the admin tools call it (RevokeSession of any user's session). */
let admin: Client<typeof SessionService>;
const replicas: ServiceProcess[] = [];
let authEnv: Record<string, string>;

const clientOf = (p: ServiceProcess) =>
  createClient(AuthVerifyService, createGrpcTransport({ baseUrl: `http://${p.grpcAddress}` }));

/** The sum of a metric's samples on `p` whose labels include every `labels` pair. */
const metric = (p: ServiceProcess, name: string, labels: Record<string, string> = {}) =>
  metricSum(p.httpUrl, name, labels);

/** Calls session has served for `method` (its kit's RPC histogram). */
const sessionCalls = (method: string) =>
  metric(session, 'wxmesh_rpc_server_duration_seconds_count', { rpc_method: method });
const lookups = (p: ServiceProcess, result: 'hit' | 'miss' | 'bypass') =>
  metric(p, 'wxmesh_auth_verify_cache_lookups_total', { result });

/** Every process this file started, recorded when spawned: `after` kills them even if a start failed. */
const spawned: ChildProcess[] = [];
const record = (child: ChildProcess) => void spawned.push(child);

async function startAuth(env: Record<string, string> = {}) {
  const p = await startServiceProcess('auth-verify', {
    env: { ...authEnv, ...env },
    timeoutMs: 120_000,
    onSpawn: record,
  });
  await waitFor(async () => (await metric(p, 'wxmesh_auth_verify_cache_feed_healthy')) === 1, {
    // Part of the start-up (the replica joins the feed), so it scales with the machine's load.
    timeoutMs: scaledTimeout(30_000),
    message: 'the replica’s SessionEnded feed is healthy',
  });
  return p;
}

async function newSession(user: string) {
  const created = await sessions.createSession({ appid: APPID, openid: `o_${RUN}_${user}` });
  return created.sessionToken;
}

/** Verifies `token` on `p` until it is served from the cache (a miss first, then a hit). */
async function cacheOn(p: ServiceProcess, token: string) {
  const client = clientOf(p);
  const hits = await lookups(p, 'hit');
  await client.verifySession({ sessionToken: token });
  await client.verifySession({ sessionToken: token });
  assert.equal(await lookups(p, 'hit'), hits + 1, 'the second verify was a cache hit');
}

async function unauthenticatedEverywhere(token: string, on: ServiceProcess[], what: string) {
  const started = performance.now();
  await waitFor(
    async () =>
      (await Promise.all(on.map((p) => codeOf(clientOf(p).verifySession({ sessionToken: token }))))).every(
        (c) => c === 'Unauthenticated',
      ),
    { timeoutMs: INVALIDATION_DEADLINE_MS, message: `${what}: Unauthenticated on every replica` },
  );
  return performance.now() - started;
}

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  const dir = mkdtempSync(join(tmpdir(), 'auth-verify-cache-test-'));
  writeFileSync(join(dir, 'app-secret'), `${APPID}=app-secret-${randomBytes(12).toString('hex')}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  const shared = { REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers };
  session = await startServiceProcess('session', {
    env: { ...shared, SESSION_MAX_PER_USER: '3' },
    timeoutMs: 120_000,
    onSpawn: record,
  });
  const sessionAs = (peer: string) => peerClient(SessionService, session.grpcAddress, peer);
  sessions = sessionAs('auth-verify');
  admin = sessionAs('operator');
  authEnv = {
    ...shared,
    SESSION_ADDR: session.grpcAddress,
    WECHAT_API_BASE_URL: 'http://127.0.0.1:9', // WeChat is never called here
    WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
    SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    VERIFY_CACHE_TTL: '10m',
    VERIFY_CACHE_FEED_STALE: `${FEED_STALE}ms`,
  };
  replicas.push(...(await Promise.all([startAuth(), startAuth()])));
});

after(async () => {
  for (const child of spawned)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await infra?.stop();
});

test('the cache serves: 20 more verifies of a token reach session not at all', async () => {
  const [a] = replicas as [ServiceProcess];
  const token = await newSession('serve');
  const client = clientOf(a);
  const first = await client.verifySession({ sessionToken: token });
  const before = await sessionCalls('GetSession');
  const hits = await lookups(a, 'hit');
  for (let i = 0; i < 20; i++) {
    const again = await client.verifySession({ sessionToken: token });
    assert.deepEqual(
      [again.sessionId, again.openid, again.appid, timestampMs(again.expiresAt!)],
      [first.sessionId, `o_${RUN}_serve`, APPID, timestampMs(first.expiresAt!)],
    );
  }
  assert.equal(await sessionCalls('GetSession'), before, 'no GetSession for cached answers');
  assert.equal(await lookups(a, 'hit'), hits + 20);

  // Failures are never cached: an unknown token goes to session every time.
  const forged = `${token.slice(0, -4)}AAAA`;
  const misses = await sessionCalls('GetSession');
  for (let i = 0; i < 3; i++)
    assert.equal(await codeOf(client.verifySession({ sessionToken: forged })), 'Unauthenticated');
  assert.equal(await sessionCalls('GetSession'), misses + 3);
});

test('a Bearer token at auth-verify’s own edge is checked in-process against the cache, until revoked', async () => {
  const [a] = replicas as [ServiceProcess];
  const token = await newSession('bearer');
  await cacheOn(a, token);
  const edge = createClient(
    AuthVerifyService,
    createConnectTransport({ baseUrl: a.httpUrl, httpVersion: '1.1', interceptors: [withBearer(token)] }),
  );
  const gets = await sessionCalls('GetSession');
  const hits = await lookups(a, 'hit');
  for (let i = 0; i < 10; i++)
    assert.equal((await edge.verifySession({ sessionToken: token })).openid, `o_${RUN}_bearer`);
  assert.equal(await sessionCalls('GetSession'), gets, 'no call to session for the Bearer check');
  assert.equal(await lookups(a, 'hit'), hits + 20, 'the Bearer check and the handler each hit the cache');

  await admin.revokeSession({
    target: { case: 'sessionToken', value: token },
    reason: RevokeReason.REVOCATION,
  });
  await waitFor(
    async () => (await codeOf(edge.verifySession({ sessionToken: token }))) === 'Unauthenticated',
    {
      timeoutMs: INVALIDATION_DEADLINE_MS,
      message: 'the revoked Bearer is refused at the edge',
    },
  );
});

test('RevokeSession: a cached token is Unauthenticated on both replicas within the deadline', async () => {
  const token = await newSession('revoke');
  for (const p of replicas) await cacheOn(p, token);
  const ended = await Promise.all(
    replicas.map((p) =>
      metric(p, 'wxmesh_auth_verify_cache_invalidations_total', { cause: 'session_ended' }),
    ),
  );
  const { revoked } = await admin.revokeSession({
    target: { case: 'sessionToken', value: token },
    reason: RevokeReason.REVOCATION,
  });
  assert.ok(revoked);
  const ms = await unauthenticatedEverywhere(token, replicas, 'revoked');
  console.log(`revocation reached both replicas' caches in ${ms.toFixed(0)} ms`);
  for (const [i, p] of replicas.entries())
    assert.equal(
      await metric(p, 'wxmesh_auth_verify_cache_invalidations_total', { cause: 'session_ended' }),
      ended[i]! + 1,
      'the SessionEnded event removed the entry',
    );
});

test('eviction by the per-user cap: the evicted token is Unauthenticated on both replicas; the others still verify', async () => {
  const tokens = [await newSession('cap'), await newSession('cap'), await newSession('cap')];
  for (const p of replicas) for (const t of tokens) await cacheOn(p, t);
  tokens.push(await newSession('cap')); // a fourth session evicts the oldest (SESSION_MAX_PER_USER=3)
  await unauthenticatedEverywhere(tokens[0]!, replicas, 'evicted');
  for (const p of replicas)
    for (const t of tokens.slice(1))
      assert.equal(await codeOf(clientOf(p).verifySession({ sessionToken: t })), 'OK');
});

test('touch always goes to session, and its answer refreshes the cached entry', async () => {
  const [a] = replicas as [ServiceProcess];
  const client = clientOf(a);
  const token = await newSession('touch');
  await cacheOn(a, token);
  const touches = await sessionCalls('TouchSession');
  let touched: Awaited<ReturnType<typeof client.verifySession>> | undefined;
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5)); // so each touch slides the expiry
    touched = await client.verifySession({ sessionToken: token, touch: true });
  }
  assert.equal(await sessionCalls('TouchSession'), touches + 3, 'every touch reached session');
  const gets = await sessionCalls('GetSession');
  const cached = await client.verifySession({ sessionToken: token });
  assert.equal(await sessionCalls('GetSession'), gets, 'served from the cache');
  assert.equal(timestampMs(cached.expiresAt!), timestampMs(touched!.expiresAt!), 'with the touched expiry');
});

test('feed down: a paused broker clears and bypasses the cache, so a revocation it never saw still takes effect', async () => {
  // This replica's feed watches a broker of its own, which session never writes to: its cache can
  // learn of a revocation only by being cleared.
  const own: KafkaBroker = await startKafka();
  let paused = false;
  const c = await startAuth({ KAFKA_BROKERS: own.brokers });
  try {
    const client = clientOf(c);
    const token = await newSession('feed');
    const other = await newSession('feed-other');
    await cacheOn(c, token);
    await admin.revokeSession({
      target: { case: 'sessionToken', value: token },
      reason: RevokeReason.REVOCATION,
    });
    assert.equal(
      await codeOf(client.verifySession({ sessionToken: token })),
      'OK',
      'the cache holds the revoked answer while its feed cannot see the event (test premise)',
    );

    own.pause();
    paused = true;
    const started = performance.now();
    await waitFor(
      async () => (await codeOf(client.verifySession({ sessionToken: token }))) === 'Unauthenticated',
      {
        // The feed's staleness is judged by its own timers, which a busy machine delays too.
        timeoutMs: scaledTimeout(FEED_STALE + 3_000),
        message: 'the stale feed cleared the cache',
      },
    );
    console.log(
      `feed stale → cache cleared after ${(performance.now() - started).toFixed(0)} ms (stale after ${FEED_STALE} ms)`,
    );
    assert.equal(await metric(c, 'wxmesh_auth_verify_cache_feed_healthy'), 0);
    assert.ok((await metric(c, 'wxmesh_auth_verify_cache_invalidations_total', { cause: 'feed_down' })) >= 1);

    // While down every verify goes to session, and nothing is kept.
    const gets = await sessionCalls('GetSession');
    const bypassed = await lookups(c, 'bypass');
    for (let i = 0; i < 3; i++)
      assert.equal(await codeOf(client.verifySession({ sessionToken: other })), 'OK');
    assert.equal(await sessionCalls('GetSession'), gets + 3);
    assert.equal(await lookups(c, 'bypass'), bypassed + 3);

    own.resume();
    paused = false;
    await waitFor(async () => (await metric(c, 'wxmesh_auth_verify_cache_feed_healthy')) === 1, {
      timeoutMs: scaledTimeout(60_000),
      message: 'the feed is healthy again once the broker answers',
    });
    assert.equal(
      await codeOf(client.verifySession({ sessionToken: token })),
      'Unauthenticated',
      'the cleared entry does not come back with the feed',
    );
    await cacheOn(c, other);
  } finally {
    if (paused) own.resume();
    c.child.kill('SIGKILL');
    await own.stop();
  }
});
