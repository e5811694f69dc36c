// Bearer tokens at the projector's edge are verified in this process, against its own warm cache in
// front of auth-verify, and revocation still wins: session, auth-verify and the projector as real
// processes on real Redis and Kafka. Both caches keep tokens for 10 minutes, so only the SessionEnded
// event reaching the projector's own feed can explain a cached token going Unauthenticated there.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Client } from '@connectrpc/connect';
import { RevokeReason, SessionService } from '@wxmesh/contracts';
import {
  codeOf,
  type Infra,
  metricSum,
  peerClient,
  scaledTimeout,
  type ServiceProcess,
  startInfra,
  startServiceProcess,
  waitFor,
  withBearer,
} from '@wxmesh/testing';
import { edgeClientOf, projectorEnv, RUN, setupFor } from './support.js';

const APPID = 'wx00000000000000a1';
/** The SessionEnded event's trip through Kafka to the projector's feed, with slack for 2 busy cores. */
const INVALIDATION_DEADLINE_MS = 5_000;
const caches = { VERIFY_CACHE_TTL: '10m', VERIFY_CACHE_FEED_STALE: '2s' };

let infra: Infra<{ redis: true; kafka: true }>;
let session: ServiceProcess;
let auth: ServiceProcess;
let projector: ServiceProcess;
/** session as auth-verify calls it (CreateSession is auth-verify's alone). */
let sessions: Client<typeof SessionService>;
/** session as the admin tools call it (RevokeSession of any user's session). */
let admin: Client<typeof SessionService>;

/** The sum of a metric's samples on `p` whose labels include every `labels` pair. */
const metric = (p: ServiceProcess, name: string, labels: Record<string, string> = {}) =>
  metricSum(p.httpUrl, name, labels);

/** VerifySession calls auth-verify has served (its kit's RPC histogram). */
const verifySessionCalls = () =>
  metric(auth, 'wxmesh_rpc_server_duration_seconds_count', { rpc_method: 'VerifySession' });
const projectorCache = (name: string, labels: Record<string, string> = {}) =>
  metric(projector, `wxmesh_session_token_cache_${name}`, labels);

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  const dir = mkdtempSync(join(tmpdir(), 'projector-session-tokens-'));
  writeFileSync(join(dir, 'app-secret'), `${APPID}=app-secret-${randomBytes(12).toString('hex')}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  const shared = { REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers };
  session = await startServiceProcess('session', { env: shared, timeoutMs: 120_000 });
  const sessionAs = (peer: string) => peerClient(SessionService, session.grpcAddress, peer);
  sessions = sessionAs('auth-verify');
  admin = sessionAs('operator');
  auth = await startServiceProcess('auth-verify', {
    env: {
      ...shared,
      ...caches,
      SESSION_ADDR: session.grpcAddress,
      WECHAT_API_BASE_URL: 'http://127.0.0.1:9', // WeChat is never called here
      WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
      SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    },
    timeoutMs: 120_000,
  });
  projector = await startServiceProcess('behaviour-projector', {
    env: {
      ...projectorEnv(setupFor(infra, 'tokens')),
      ...caches,
      AUTH_VERIFY_ADDR: auth.grpcAddress,
    },
    timeoutMs: 120_000,
  });
  await waitFor(async () => (await projectorCache('feed_healthy')) === 1, {
    // Part of the start-up (the projector joins the feed), so it scales with the machine's load.
    timeoutMs: scaledTimeout(60_000),
    message: "the projector's SessionEnded feed is healthy",
  });
});

after(async () => {
  for (const p of [projector, auth, session]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
  await infra?.stop();
});

test('a repeat Bearer call is checked in the projector without asking auth-verify; a revoked token is refused there', async () => {
  const openid = `o${RUN}bearer`;
  const { sessionToken } = await sessions.createSession({ appid: APPID, openid });
  const edge = edgeClientOf(projector, withBearer(sessionToken));
  assert.equal(await codeOf(edge.getUserJourney({ openid })), 'OK', "the token's user reads their journey");
  assert.equal(
    await codeOf(edge.getUserJourney({ openid: `o${RUN}other` })),
    'PermissionDenied',
    'and acts for nobody else',
  );

  const verifies = await verifySessionCalls();
  const hits = await projectorCache('lookups_total', { result: 'hit' });
  for (let i = 0; i < 20; i++) await edge.getUserJourney({});
  assert.equal(await verifySessionCalls(), verifies, 'no VerifySession at auth-verify for a cached token');
  assert.equal(await projectorCache('lookups_total', { result: 'hit' }), hits + 20);

  const dropped = await projectorCache('invalidations_total', { cause: 'session_ended' });
  await admin.revokeSession({
    target: { case: 'sessionToken', value: sessionToken },
    reason: RevokeReason.REVOCATION,
  });
  await waitFor(async () => (await codeOf(edge.getUserJourney({}))) === 'Unauthenticated', {
    timeoutMs: INVALIDATION_DEADLINE_MS,
    message: 'the revoked Bearer is refused at the projector',
  });
  assert.equal(
    await projectorCache('invalidations_total', { cause: 'session_ended' }),
    dropped + 1,
    "the projector's own feed dropped the cached token",
  );
  assert.equal(
    await projectorCache('feed_healthy'),
    1,
    'refused by the cache, not because it stopped serving',
  );
});
