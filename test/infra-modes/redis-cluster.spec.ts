// The session service and the behaviour projector against a 3-master Redis Cluster
// (REDIS_MODE=cluster), run as processes the way production runs them, through their core flows.
//
// Both build their Redis clients from the config's connection (REDIS_MODE, see docs/redis.md). The
// projector applies events one script per event on the user's slot in cluster mode (its batch
// script builds keys inside Lua, which a cluster refuses), each command sent to its own node; the
// users below lie on different masters, so a flow that sent one node another's keys fails here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { BehaviourViewService, PresenceStatus, RevokeReason, SessionService } from '@wxmesh/contracts';
import {
  peerClient,
  scaledTimeout,
  startKafka,
  startRedisCluster,
  startServiceProcesses,
  stopProcesses,
  waitFor,
  withBearer,
  type KafkaBroker,
  type RedisCluster,
  type ServiceProcess,
} from '@wxmesh/testing';

const APPID = 'wx0123456789abcdef';
const RUN = randomBytes(4).toString('hex');
const WAIT = { timeoutMs: scaledTimeout(30_000), intervalMs: 200 };

let cluster: RedisCluster | undefined;
let kafka: KafkaBroker | undefined;
let running: Promise<ServiceProcess[]> | undefined;

before(async () => {
  [cluster, kafka] = await Promise.all([startRedisCluster(), startKafka()]);
});

after(async () => {
  const started = await running?.catch(() => []);
  await stopProcesses((started ?? []).map((service) => service.child));
  await Promise.all([cluster?.stop(), kafka?.stop()]);
});

/**
 * Both services on the cluster, started by the first flow that needs them (inside the flow, so a
 * service that cannot start in cluster mode fails that flow, not the file's set-up).
 */
async function services(): Promise<{ session: ServiceProcess; projector: ServiceProcess }> {
  const env = {
    REDIS_MODE: 'cluster',
    REDIS_URL: cluster!.url,
    REDIS_CLUSTER_NODES: cluster!.nodes.slice(1).join(','),
    KAFKA_BROKERS: kafka!.brokers,
  };
  running ??= startServiceProcesses([
    { name: 'session', options: { env } },
    { name: 'behaviour-projector', options: { env } },
  ]);
  const [session, projector] = await running;
  return { session: session!, projector: projector! };
}

const user = (name: string) => `o_${RUN}_${name}`;
/** The clients a flow calls: session as auth-verify and as the operator, the projector's views. */
async function clients() {
  const { session, projector } = await services();
  return {
    sessions: peerClient(SessionService, session.grpcAddress, 'auth-verify'),
    operator: peerClient(SessionService, session.grpcAddress, 'operator'),
    views: peerClient(BehaviourViewService, projector.grpcAddress, 'operator'),
    sessionHttpUrl: session.httpUrl,
  };
}

/**
 * Users whose keys land on different masters, so every flow crosses nodes; a flow that counts what
 * its users did takes a `tag` of its own, so the others' sessions are not among them.
 */
const usersOnEveryNode = async (count: number, tag = 'u') =>
  (await cluster!.namesOnEveryMaster((i) => user(`${tag}${i}`))).slice(0, count);

describe('Redis Cluster: session and behaviour-projector', () => {
  test('create, get and revoke sessions of users on every master', async () => {
    const { sessions, operator } = await clients();
    for (const openid of await usersOnEveryNode(3)) {
      const { session: created, sessionToken } = await sessions.createSession({ appid: APPID, openid });
      assert.equal(created?.openid, openid);
      const { session: got } = await sessions.getSession({ sessionToken });
      assert.equal(got?.sessionId, created?.sessionId);
      const { revoked } = await operator.revokeSession({
        target: { case: 'session', value: { openid, sessionId: created!.sessionId } },
        reason: RevokeReason.REVOCATION,
      });
      assert.equal(revoked, true);
      await assert.rejects(
        sessions.getSession({ sessionToken }),
        (err) => err instanceof ConnectError && err.code === Code.NotFound,
      );
    }
  });

  test('presence: online while a channel is attached, offline after', async () => {
    const { sessions, operator, sessionHttpUrl } = await clients();
    const [openid] = await usersOnEveryNode(1);
    const { sessionToken } = await sessions.createSession({ appid: APPID, openid: openid! });
    const edge = createClient(
      SessionService,
      createConnectTransport({
        baseUrl: sessionHttpUrl,
        httpVersion: '1.1',
        interceptors: [withBearer(sessionToken)],
      }),
    );
    const presence = async () => (await operator.getPresence({ openid: openid! })).presence?.status;
    assert.equal(await presence(), PresenceStatus.OFFLINE);
    const controller = new AbortController();
    let attached = false;
    const channel = (async () => {
      try {
        for await (const item of edge.attach({ sessionToken }, { signal: controller.signal })) {
          if (item.item.case === 'attached') attached = true;
        }
      } catch {
        // closed by the test
      }
    })();
    await waitFor(() => attached, { ...WAIT, message: 'the channel attached' });
    assert.equal(await presence(), PresenceStatus.ONLINE);
    controller.abort();
    await channel;
    await waitFor(async () => (await presence()) === PresenceStatus.OFFLINE, {
      ...WAIT,
      message: 'presence back to offline after the channel closed',
    });
  });

  test('session events are folded into each user’s journey, read back through the projector', async () => {
    const { sessions, operator, views } = await clients();
    const openids = await usersOnEveryNode(3, 'journey');
    assert.equal(openids.length, 3, 'a user on each master');
    for (const openid of openids) {
      const { session: created } = await sessions.createSession({ appid: APPID, openid });
      await operator.revokeSession({
        target: { case: 'session', value: { openid, sessionId: created!.sessionId } },
        reason: RevokeReason.LOGOUT,
      });
    }
    for (const openid of openids) {
      await waitFor(
        async () => {
          const { journey } = await views.getUserJourney({ openid }, { timeoutMs: 5_000 });
          return journey?.sessionsStarted === 1 && journey.sessionsEnded === 1;
        },
        { ...WAIT, message: `the journey of ${openid} shows one session started and ended` },
      );
    }
  });
});
