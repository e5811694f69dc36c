// The session service and the behaviour projector against a Redis deployment as production runs it,
// REDIS_MODE=cluster (3 masters) or sentinel (a primary and a Sentinel), run as processes the way
// production runs them, through their core flows. One spec file per mode calls
// describeSessionAndProjectorOn (redis-cluster.spec.ts, redis-sentinel.spec.ts).
//
// Both build their Redis clients from the config's connection (REDIS_MODE, see docs/redis.md). On a
// cluster the projector applies events one script per event on the user's slot (its batch script
// builds keys inside Lua, which a cluster refuses), each command sent to its own node, and the users
// below lie on different masters, so a flow that sent one node another's keys fails there. On a
// Sentinel it keeps the batch script, on the primary the Sentinel names.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { BehaviourViewService, PresenceStatus, RevokeReason, SessionService } from '@wxmesh/contracts';
import {
  peerClient,
  scaledTimeout,
  startKafka,
  startServiceProcesses,
  stopProcesses,
  waitFor,
  withBearer,
  type KafkaBroker,
  type ServiceProcess,
} from '@wxmesh/testing';
import {
  REDIS_MODE_TITLE,
  startRedisUnderTest,
  type RedisMode,
  type RedisUnderTest,
} from './redis-under-test.js';

const APPID = 'wx0123456789abcdef';
const RUN = randomBytes(4).toString('hex');
const WAIT = { timeoutMs: scaledTimeout(30_000), intervalMs: 200 };

let redis: RedisUnderTest | undefined;
let kafka: KafkaBroker | undefined;
/** Every process this file started, recorded when spawned: `after` stops them even if a start failed. */
const spawned: ChildProcess[] = [];
let running: Promise<ServiceProcess[]> | undefined;

/**
 * Both services on `redis`, started by the first flow that needs them (inside the flow, so a
 * service that cannot start in that mode fails that flow, not the file's set-up).
 */
async function services(): Promise<{ session: ServiceProcess; projector: ServiceProcess }> {
  const options = {
    env: { ...redis!.env, KAFKA_BROKERS: kafka!.brokers },
    onSpawn: (child: ChildProcess) => void spawned.push(child),
  };
  running ??= startServiceProcesses([
    { name: 'session', options },
    { name: 'behaviour-projector', options },
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
 * Users whose keys land on different masters (on a cluster), so every flow crosses nodes; a flow that
 * counts what its users did takes a `tag` of its own, so the others' sessions are not among them.
 */
const usersOnEveryNode = async (count: number, tag = 'u') =>
  (await redis!.namesOnEveryMaster((i) => user(`${tag}${i}`))).slice(0, count);

/**
 * The two services' flows on a Redis in `mode`, started for the calling spec file (one mode per
 * file: each file is its own process, so this module's state is its own).
 */
export function describeSessionAndProjectorOn(mode: RedisMode): void {
  before(async () => {
    [redis, kafka] = await Promise.all([startRedisUnderTest(mode), startKafka()]);
  });

  after(async () => {
    await running?.catch(() => undefined);
    await stopProcesses(spawned);
    await Promise.all([redis?.stop(), kafka?.stop()]);
  });

  describeFlows(`${REDIS_MODE_TITLE[mode]}: session and behaviour-projector`);
}

function describeFlows(title: string): void {
  describe(title, () => {
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
}
