// auth-verify, message-router and payment-callback against a Redis deployment as production runs
// it, REDIS_MODE=cluster (3 masters) or sentinel (a primary and a Sentinel), run as processes the way
// production runs them (with session beside them and the WeChat sandbox as WeChat), through each
// one's core flow. On the cluster the users and orders sit on different masters: every script and
// transaction of their keyspaces names keys of one hash slot (docs/redis.md), and a regression that
// spans slots fails with CROSSSLOT or a cross-node pipeline error. One spec file per mode calls
// describeServicesOn (redis-cluster-services.spec.ts, redis-sentinel-services.spec.ts).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import {
  AuthVerifyService,
  DeliveryState,
  MessageRouterService,
  PaymentService,
  PaymentState,
  RoutePolicy,
  SubscriptionStatus,
  type BehaviourEvent,
} from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';
import {
  collectTopic,
  freePort,
  peerClient,
  scaledTimeout,
  startKafka,
  startServiceProcesses,
  stopProcesses,
  waitFor,
  withBearer,
  type KafkaBroker,
  type ServiceProcess,
  type TopicCollector,
  sandboxControl,
} from '@wxmesh/testing';
import { payKeys } from '../support/pay-keys.js';
import {
  REDIS_MODE_TITLE,
  startRedisUnderTest,
  type RedisMode,
  type RedisUnderTest,
} from './redis-under-test.js';

const APPID = 'wx0a1b2c3d4e5f6a71';
const APP_SECRET = randomBytes(16).toString('hex');
const TEMPLATE = 'tpl_cluster_notice';
const PUSH_TOKEN = randomBytes(12).toString('hex');
const RUN = randomBytes(4).toString('hex');
const WAIT = { timeoutMs: scaledTimeout(30_000), intervalMs: 200 };
/** Start-up limit of each process on an idle machine (the harness scales it with the load). */
const START_MS = 180_000;

let redis: RedisUnderTest | undefined;
let kafka: KafkaBroker | undefined;
let dir: string | undefined;
let events: TopicCollector<BehaviourEvent> | undefined;
/** Every process this file started, recorded when spawned: `after` stops them even if a start failed. */
const spawned: ChildProcess[] = [];
const record = (child: ChildProcess) => void spawned.push(child);
let running: Promise<Mesh> | undefined;

interface Mesh {
  readonly sandbox: ServiceProcess;
  readonly authVerify: ServiceProcess;
  readonly router: ServiceProcess;
  readonly payment: ServiceProcess;
}

/** The secret files auth-verify reads, and the environment of the WeChat Pay dev keys. */
async function secretFiles() {
  dir = mkdtempSync(join(tmpdir(), 'wxmesh-redis-services-'));
  writeFileSync(join(dir, 'app-secret'), `${APPID}=${APP_SECRET}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  return {
    appSecretFile: join(dir, 'app-secret'),
    encryptionKeyFile: join(dir, 'encryption-key'),
    pay: await payKeys(dir),
  };
}

/**
 * The sandbox, session and the three services on `redis`, all started at once (the peers' ports
 * are chosen first), by the first flow that needs them: a service that cannot start in that mode
 * fails that flow, not the file's set-up.
 */
async function startMesh(): Promise<Mesh> {
  const secrets = await secretFiles();
  const [sessionPort, authPort, paymentHttpPort, sandboxPort] = await distinctFreePorts(4);
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const onCluster = { ...redis!.env, KAFKA_BROKERS: kafka!.brokers };
  const start = (name: string, env: Record<string, string>) => ({
    name,
    options: { env, timeoutMs: START_MS, onSpawn: record },
  });
  const [sandbox, , authVerify, router, payment] = await startServiceProcesses([
    start('wechat-sandbox', {
      ...secrets.pay.sandbox,
      HTTP_PORT: String(sandboxPort),
      SANDBOX_APPS: `${APPID}:${APP_SECRET}`,
      SANDBOX_PAY_NOTIFY_TIME_SCALE: '0.02',
    }),
    start('session', { ...onCluster, GRPC_PORT: String(sessionPort) }),
    start('auth-verify', {
      ...onCluster,
      GRPC_PORT: String(authPort),
      SESSION_ADDR: `127.0.0.1:${sessionPort}`,
      WECHAT_API_BASE_URL: sandboxUrl,
      WECHAT_APP_SECRET_FILE: secrets.appSecretFile,
      SESSION_KEY_ENCRYPTION_KEY_FILE: secrets.encryptionKeyFile,
    }),
    start('message-router', {
      ...onCluster,
      SESSION_ADDR: `127.0.0.1:${sessionPort}`,
      AUTH_VERIFY_ADDR: `127.0.0.1:${authPort}`,
      WECHAT_API_BASE_URL: sandboxUrl,
      WECHAT_PUSH_APPS: `${APPID}:${PUSH_TOKEN}`,
    }),
    start('payment-callback', {
      ...onCluster,
      ...secrets.pay.paymentCallback,
      HTTP_PORT: String(paymentHttpPort),
      WECHATPAY_BASE_URL: sandboxUrl,
      WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${paymentHttpPort}/webhooks/wechatpay/notify`,
    }),
  ]);
  return { sandbox: sandbox!, authVerify: authVerify!, router: router!, payment: payment! };
}

/** `count` free local ports, no two alike. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

const mesh = () => (running ??= startMesh());

/** A call to the sandbox's control API; throws with the answer when it is not 2xx. */
async function sandboxCall(path: string, body?: unknown): Promise<Record<string, unknown>> {
  return sandboxControl((await mesh()).sandbox.httpUrl, path, body);
}

const usersOnEveryMaster = (flow: string) => redis!.namesOnEveryMaster((i) => `o_${RUN}_${flow}${i}`);

/**
 * The three services' flows on a Redis in `mode`, started for the calling spec file (one mode per
 * file: each file is its own process, so this module's state is its own).
 */
export function describeServicesOn(mode: RedisMode): void {
  before(async () => {
    [redis, kafka] = await Promise.all([startRedisUnderTest(mode), startKafka()]);
  });

  after(async () => {
    await running?.catch(() => undefined);
    await stopProcesses(spawned);
    await events?.stop();
    await Promise.all([redis?.stop(), kafka?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describeFlows(`${REDIS_MODE_TITLE[mode]}: auth-verify, message-router and payment-callback`);
}

function describeFlows(title: string): void {
  describe(title, () => {
    test('auth-verify: login, verify, decrypt user data, OAuth rotation and the central access_token', async () => {
      const { authVerify } = await mesh();
      const auth = createClient(
        AuthVerifyService,
        createGrpcTransport({ baseUrl: `http://${authVerify.grpcAddress}` }),
      );
      for (const openid of await usersOnEveryMaster('auth')) {
        const fixture = await sandboxCall('/sandbox/mp/js-codes', {
          appid: APPID,
          openid,
          session_key: randomBytes(16).toString('base64'),
        });
        const login = await auth.login({ appid: APPID, jsCode: fixture.js_code as string });
        assert.equal(login.openid, openid);
        const verified = await auth.verifySession({ sessionToken: login.sessionToken });
        assert.equal(verified.sessionId, login.sessionId);
        const edge = createClient(
          AuthVerifyService,
          createConnectTransport({
            baseUrl: authVerify.httpUrl,
            httpVersion: '1.1',
            interceptors: [withBearer(login.sessionToken)],
          }),
        );
        const sealed = await sandboxCall('/sandbox/mp/user-data', {
          appid: APPID,
          openid,
          data: { nickName: 'N' },
        });
        const opened = await edge.decryptUserData({
          sessionToken: login.sessionToken,
          encryptedData: sealed.encryptedData as string,
          iv: sealed.iv as string,
          rawData: sealed.rawData as string,
          signature: sealed.signature as string,
        });
        assert.equal((JSON.parse(opened.dataJson) as { nickName: string }).nickName, 'N');
        const code = await sandboxCall('/sandbox/mp/oauth-codes', {
          appid: APPID,
          openid,
          scope: 'snsapi_base',
        });
        const { grant } = await auth.exchangeOAuthCode({ appid: APPID, code: code.code as string });
        const refreshed = await auth.refreshOAuthToken({ appid: APPID, refreshToken: grant!.refreshToken });
        assert.notEqual(refreshed.grant?.refreshToken, grant!.refreshToken);
      }
      const asRouter = peerClient(AuthVerifyService, authVerify.grpcAddress, 'message-router');
      const first = await asRouter.getAccessToken({ appid: APPID });
      assert.ok(first.accessToken.length > 0);
      const replaced = await asRouter.invalidateAccessToken({ appid: APPID, accessToken: first.accessToken });
      assert.equal(replaced.refreshed, true);
      assert.notEqual(replaced.accessToken, first.accessToken);
    });

    test('message-router: subscribe messages to users on every master, and a pushed refusal honoured', async () => {
      const { router } = await mesh();
      const client = peerClient(MessageRouterService, router.grpcAddress, 'business-backend');
      await sandboxCall('/sandbox/mp/templates', {
        appid: APPID,
        template_id: TEMPLATE,
        keywords: ['thing1'],
      });
      const openids = await usersOnEveryMaster('route');
      for (const openid of openids) {
        await sandboxCall('/sandbox/mp/subscriptions', {
          appid: APPID,
          openid,
          template_id: TEMPLATE,
          kind: 'long-term',
        });
      }
      const send = (messageId: string, to: string[]) =>
        client.routeMessage({
          appid: APPID,
          messageId,
          openids: to,
          policy: RoutePolicy.SUBSCRIBE_ONLY,
          subscribe: { templateId: TEMPLATE, data: { thing1: 'cluster' } },
        });
      const finalState = async (deliveryId: string) =>
        waitFor(
          async () => {
            const { delivery } = await client.getDelivery({ deliveryId });
            return delivery?.state === DeliveryState.DELIVERED || delivery?.state === DeliveryState.FAILED
              ? delivery
              : undefined;
          },
          { ...WAIT, message: `delivery ${deliveryId} ends` },
        );
      const { results } = await send(`m-${RUN}-all`, openids);
      for (const result of results)
        assert.equal(DeliveryState[(await finalState(result.deliveryId)).state], 'DELIVERED');

      // WeChat pushes one user's refusal: the inbound stream (read on its own cluster connection)
      // records it in that user's subscription state, and the next send to them is refused unsent.
      const refuser = openids[1]!;
      events = await collectTopic(kafka!.brokers, BEHAVIOUR_TOPIC, {
        keyPrefix: `o_${RUN}_`,
        keep: decodeBehaviourEvent,
      });
      await sandboxCall('/sandbox/mp/push-config', {
        appid: APPID,
        url: `${router.httpUrl}/webhooks/wechat/message/${APPID}`,
        token: PUSH_TOKEN,
        mode: 'plain',
        format: 'json',
      });
      await sandboxCall('/sandbox/mp/subscriptions', {
        appid: APPID,
        openid: refuser,
        template_id: TEMPLATE,
        kind: 'long-term',
        status: 'reject',
        push: true,
      });
      await waitFor(
        () =>
          events!.records.some(
            (e) =>
              e.payload.case === 'subscriptionChanged' &&
              e.payload.value.status === SubscriptionStatus.REJECT &&
              e.wechat?.openid === refuser,
          ),
        { ...WAIT, message: `the refusal of ${refuser} recorded` },
      );
      const refused = await finalState((await send(`m-${RUN}-refused`, [refuser])).results[0]!.deliveryId);
      assert.equal(DeliveryState[refused.state], 'FAILED');
      assert.equal(refused.lastError?.wechatErrcode, 43101);
    });

    test('payment-callback: orders on every master are paid once through the notify webhook', async () => {
      const { payment } = await mesh();
      const client = peerClient(PaymentService, payment.grpcAddress, 'business-backend');
      const orders = await redis!.namesOnEveryMaster((i) => `C${RUN}${i}`);
      for (const [i, outTradeNo] of orders.entries()) {
        const created = await client.createJsapiOrder({
          appid: APPID,
          openid: `o_${RUN}_payer${i}`,
          outTradeNo,
          amountTotal: 100 + i,
          description: `cluster order ${i}`,
        });
        assert.equal(created.payment?.state, PaymentState.CREATED);
        await sandboxCall(`/sandbox/pay/orders/${outTradeNo}/pay`, {});
      }
      for (const outTradeNo of orders) {
        const paid = await waitFor(
          async () => {
            const state = (await client.getPayment({ outTradeNo })).payment;
            return state?.state === PaymentState.PAID ? state : undefined;
          },
          { ...WAIT, message: `order ${outTradeNo} paid` },
        );
        assert.ok(paid.transactionId.length > 0);
      }
    });
  });
}
