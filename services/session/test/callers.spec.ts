// Who may call what on a real session process: users at the edge act only for themselves (signed
// in with session tokens session verifies itself), mesh-internal RPCs are not on the http port at
// all, and on the grpc port only the peers the proto names get through.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { RevokeReason } from '@wxmesh/contracts';
import { asGatewayUser, startInfra, waitFor, type Infra } from '@wxmesh/testing';
import {
  APPID,
  attach,
  edgeClient,
  grpcClient,
  openidOf,
  RUN,
  serverEnding,
  startReplica,
  type Replica,
} from './support.js';

const SHORT_IDLE_TTL_MS = 3_000;

let infra: Infra<{ redis: true; kafka: true }>;
let replica: Replica;
/** A replica whose sessions expire after {@link SHORT_IDLE_TTL_MS} idle. */
let shortLived: Replica;

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  [replica, shortLived] = await Promise.all([
    startReplica(infra, `r-${RUN}-callers`),
    startReplica(infra, `r-${RUN}-short`, { SESSION_IDLE_TTL: `${SHORT_IDLE_TTL_MS}ms` }),
  ]);
});

after(async () => {
  for (const r of [replica, shortLived])
    if (r?.process.child.exitCode === null) r.process.child.kill('SIGKILL');
  await infra?.stop();
});

/** The code a call ends with, by name ('OK' when it succeeds). */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (err) {
    return Code[ConnectError.from(err).code];
  }
}

async function login(user: string, via: Replica = replica) {
  const created = await via.auth.createSession({ appid: APPID, openid: user });
  return { token: created.sessionToken, sessionId: created.session!.sessionId };
}

async function isLive(token: string) {
  return (await outcome(replica.auth.getSession({ sessionToken: token }))) === 'OK';
}

test('a user attaching with another user’s session token is PermissionDenied, and no channel opens', async () => {
  const alice = await login(openidOf('attach-a'));
  const bob = await login(openidOf('attach-b'));
  const channel = attach(replica, bob.token, alice.token);
  const error = await serverEnding(channel);
  assert.equal(error?.code, Code.PermissionDenied);
  assert.match(error!.rawMessage, /session_token names another user/);
  const { presence } = await replica.router.getPresence({ openid: openidOf('attach-b') });
  assert.equal(presence!.channelCount, 0, 'bob has no channel');

  const own = attach(replica, alice.token);
  assert.equal(await own.replicaId, replica.replicaId, 'alice attaches with her own token');
  own.close();
  await own.ended;
});

test('ListSessions at the edge: empty openid lists the caller’s own sessions, another user’s is PermissionDenied', async () => {
  const [aliceId, bobId] = [openidOf('list-a'), openidOf('list-b')];
  const first = await login(aliceId);
  const second = await login(aliceId);
  const bob = await login(bobId);
  const alice = replica.asUser(first.token);

  const own = await alice.listSessions({});
  assert.deepEqual(
    own.sessions.map((s) => [s.openid, s.sessionId]),
    [
      [aliceId, first.sessionId],
      [aliceId, second.sessionId],
    ],
  );
  assert.deepEqual((await alice.listSessions({ openid: aliceId })).sessions.length, 2, 'naming herself');
  await assert.rejects(alice.listSessions({ openid: bobId }), (e: ConnectError) => {
    assert.equal(e.code, Code.PermissionDenied);
    assert.match(e.rawMessage, /openid names another user than the caller/);
    assert.doesNotMatch(e.rawMessage, new RegExp(bob.sessionId), 'nothing of bob’s in the refusal');
    return true;
  });

  const forged = edgeClient(replica.process, [asGatewayUser({ openid: bobId, appid: APPID })]);
  assert.equal(await outcome(forged.listSessions({})), 'Unauthenticated', 'X-WX-* where no gateway is');
  assert.equal(await outcome(edgeClient(replica.process).listSessions({})), 'Unauthenticated', 'no identity');

  const ofBob = await replica.operator.listSessions({ openid: bobId });
  assert.deepEqual(
    ofBob.sessions.map((s) => s.sessionId),
    [bob.sessionId],
    'the operator lists anyone’s',
  );
  assert.equal(
    await outcome(replica.operator.listSessions({})),
    'InvalidArgument',
    'operator names the user',
  );
});

test('RevokeSession at the edge ends only the caller’s own sessions; the operator ends anyone’s', async () => {
  const [aliceId, bobId] = [openidOf('revoke-a'), openidOf('revoke-b')];
  const alice = await login(aliceId);
  const aliceOther = await login(aliceId);
  const bob = await login(bobId);
  const asAlice = replica.asUser(alice.token);
  const logout = RevokeReason.LOGOUT;

  assert.equal(
    await outcome(
      asAlice.revokeSession({ target: { case: 'sessionToken', value: bob.token }, reason: logout }),
    ),
    'PermissionDenied',
  );
  const bobRef = { openid: bobId, sessionId: bob.sessionId };
  assert.equal(
    await outcome(asAlice.revokeSession({ target: { case: 'session', value: bobRef }, reason: logout })),
    'PermissionDenied',
  );
  assert.equal(await isLive(bob.token), true, 'bob’s session survived both attempts');

  const forgedBobToken = `${bobId}.${bob.sessionId}.${'B'.repeat(43)}`;
  const unknown = await asAlice.revokeSession({
    target: { case: 'sessionToken', value: forgedBobToken },
    reason: logout,
  });
  assert.equal(unknown.revoked, false, 'a token that is no live session: false, whoever it names');

  const otherRef = { openid: aliceId, sessionId: aliceOther.sessionId };
  const byRef = await asAlice.revokeSession({ target: { case: 'session', value: otherRef }, reason: logout });
  assert.equal(byRef.revoked, true, 'alice signs out her other device');
  assert.equal(await isLive(aliceOther.token), false);

  const banned = await replica.operator.revokeSession({
    target: { case: 'session', value: bobRef },
    reason: RevokeReason.REVOCATION,
  });
  assert.equal(banned.revoked, true, 'the operator revokes bob’s session');
  assert.equal(await isLive(bob.token), false);

  const own = await asAlice.revokeSession({
    target: { case: 'sessionToken', value: alice.token },
    reason: logout,
  });
  assert.equal(own.revoked, true, 'alice logs out');
});

test('a revoked or expired Bearer token is Unauthenticated on Attach', async () => {
  const revoked = await login(openidOf('bearer-revoked'));
  await replica.operator.revokeSession({
    target: { case: 'sessionToken', value: revoked.token },
    reason: RevokeReason.REVOCATION,
  });
  const refused = await serverEnding(attach(replica, revoked.token));
  assert.equal(refused?.code, Code.Unauthenticated);
  assert.match(refused!.rawMessage, /log in again/);

  const expiring = await login(openidOf('bearer-expired'), shortLived);
  assert.equal(
    await outcome(shortLived.asUser(expiring.token).listSessions({})),
    'OK',
    'valid before expiry',
  );
  await waitFor(async () => !(await isLive(expiring.token)), {
    timeoutMs: SHORT_IDLE_TTL_MS + 5_000,
    message: 'the short-lived session expired',
  });
  const expired = await serverEnding(attach(shortLived, expiring.token));
  assert.equal(expired?.code, Code.Unauthenticated);
});

test('mesh-internal RPCs are not on the http port: 404 NotFound, exactly like an unknown method', async () => {
  const { token } = await login(openidOf('edge-internal'));
  const post = (method: string) =>
    fetch(`${replica.process.httpUrl}/wxmesh.session.v1.SessionService/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{}',
    });
  for (const method of [
    'CreateSession',
    'GetSession',
    'TouchSession',
    'GetPresence',
    'GetPresenceBatch',
    'Deliver',
  ]) {
    const response = await post(method);
    assert.equal(response.status, 404, `${method} is not routed at the edge`);
    assert.equal(((await response.json()) as { code: string }).code, 'not_found');
  }
  assert.equal((await post('NoSuchMethod')).status, 404, 'an unknown method answers the same');
  assert.equal((await post('ListSessions')).status, 200, 'an edge RPC is routed');

  const user = replica.asUser(token);
  assert.equal(
    await outcome(user.createSession({ appid: APPID, openid: openidOf('edge-internal') })),
    'NotFound',
  );
});

test('on the grpc port only the peers the proto names get through', async () => {
  const request = { appid: APPID, openid: openidOf('peer') };
  assert.equal(await outcome(replica.asPeer('payment-callback').createSession(request)), 'PermissionDenied');
  assert.equal(
    await outcome(grpcClient(replica.process).createSession(request)),
    'Unauthenticated',
    'no peer',
  );
  assert.equal(
    await outcome(replica.auth.deliver({ openid: request.openid, deliveryId: 'd', kind: 'k' })),
    'PermissionDenied',
    'Deliver is the router’s',
  );
  assert.equal(
    await outcome(replica.router.listSessions({ openid: request.openid })),
    'PermissionDenied',
    'ListSessions is the user’s or the operator’s',
  );
  const { sessionToken } = await replica.auth.createSession(request);
  assert.equal(
    await outcome(
      replica.auth.revokeSession({
        target: { case: 'sessionToken', value: sessionToken },
        reason: RevokeReason.REVOCATION,
      }),
    ),
    'PermissionDenied',
    'RevokeSession is the user’s or the operator’s',
  );
  assert.equal(await outcome(replica.operator.getPresence({ openid: request.openid })), 'OK', 'operator');
  assert.equal(await isLive(sessionToken), true);
});
