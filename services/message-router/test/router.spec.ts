// message-router end to end: real router, session, auth-verify and sandbox processes on real Redis
// and Kafka. Routing, idempotency, the subscribe-message path, payment notices and the queue's
// limits, each checked where the user (or WeChat) would see it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import {
  DeliveryChannel,
  DeliveryState,
  RoutePolicy,
  SessionService,
  type LiveMessage,
} from '@wxmesh/contracts';
import { behaviourEvent, createEventProducer, createKafka } from '@wxmesh/events';
import { codeOf, peerClient, type ServiceProcess, waitFor, withBearer } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { createDeliveryStore } from '../src/adapters/delivery-store.js';
import { deliveryIdFor } from '../src/domain/delivery.js';
import {
  APPID,
  PAYMENT_TEMPLATE,
  TEMPLATE,
  sandboxCall,
  sentMessages,
  startRouterWorld,
  subscribe,
  type RouterWorld,
} from './mesh.js';

const RUN = randomBytes(3).toString('hex');
const user = (name: string) => `o_${RUN}_${name}`;
const content = (thing: string) => ({ templateId: TEMPLATE, data: { thing1: thing, amount2: '1.00元' } });
/** Generous: several processes share two busy cores. */
const DEADLINE = { timeoutMs: 60_000 };
const silent = { info: () => {}, warn: () => {} };

let world: RouterWorld;
let router: ServiceProcess;

before(async () => {
  world = await startRouterWorld({ redisDb: 3 });
  router = await world.startRouter({
    SEND_BACKOFF_BASE: '100ms',
    SEND_BACKOFF_MAX: '500ms',
    SEND_MAX_ATTEMPTS: '3',
  });
});

after(async () => {
  await world?.stop();
});

async function deliveryState(deliveryId: string) {
  const { delivery } = await world.client(router).getDelivery({ deliveryId });
  return delivery!;
}

async function waitForState(deliveryId: string, state: DeliveryState) {
  await waitFor(async () => (await deliveryState(deliveryId)).state === state, {
    ...DEADLINE,
    message: `delivery ${deliveryId} never reached ${DeliveryState[state]}`,
  });
  return deliveryState(deliveryId);
}

/** A live channel for `openid` on a session replica, as the mini-program opens it. */
async function attach(replica: ServiceProcess, openid: string) {
  const peer = peerClient(SessionService, replica.grpcAddress, 'auth-verify');
  const { sessionToken } = await peer.createSession({ appid: APPID, openid });
  const edge = createClient(
    SessionService,
    createConnectTransport({
      baseUrl: replica.httpUrl,
      httpVersion: '1.1',
      interceptors: [withBearer(sessionToken)],
    }),
  );
  const controller = new AbortController();
  const messages: LiveMessage[] = [];
  let attached = false;
  const done = (async () => {
    try {
      for await (const r of edge.attach({ sessionToken }, { signal: controller.signal })) {
        if (r.item.case === 'attached') attached = true;
        else if (r.item.case === 'message') messages.push(r.item.value);
      }
    } catch {
      // closed by the test
    }
  })();
  await waitFor(() => attached, { ...DEADLINE, message: 'the channel never attached' });
  return { messages, close: async () => (controller.abort(), await done) };
}

test('an online user gets the message in-app through the session replica holding the channel, not the one the router calls', async () => {
  const openid = user('online');
  // The router's SESSION_ADDR is replica 0; the channel is on replica 1.
  const channel = await attach(world.sessions[1], openid);
  try {
    const request = {
      appid: APPID,
      messageId: `m-${RUN}-1`,
      openids: [openid],
      policy: RoutePolicy.IN_APP_THEN_SUBSCRIBE,
      inApp: { kind: 'order.paid', payload: new TextEncoder().encode('{"n":1}') },
      subscribe: content('paid'),
    };
    const { results } = await world.client(router).routeMessage(request);
    assert.equal(results[0]?.channel, DeliveryChannel.IN_APP);
    assert.equal(results[0]?.state, DeliveryState.DELIVERED);
    await waitFor(() => channel.messages.length === 1, {
      ...DEADLINE,
      message: 'the in-app message never arrived',
    });
    assert.equal(channel.messages[0]?.kind, 'order.paid');
    assert.equal(channel.messages[0]?.deliveryId, results[0]?.deliveryId);

    // The same message id again: the same delivery, nothing sent twice.
    const again = await world.client(router).routeMessage(request);
    assert.equal(again.results[0]?.deliveryId, results[0]?.deliveryId);
    assert.equal(again.results[0]?.state, DeliveryState.DELIVERED);
    const delivery = await deliveryState(results[0]!.deliveryId);
    assert.deepEqual(
      delivery.history.map((s) => DeliveryState[s.state]),
      ['SENDING', 'DELIVERED'],
    );
    assert.equal(channel.messages.length, 1);
    assert.deepEqual(await sentMessages(world, openid), [], 'no subscribe message for an online user');
  } finally {
    await channel.close();
  }
});

test('an in-app push a crashed router left half done is pushed by the next repeat of the message', async () => {
  const openid = user('halfdone');
  const messageId = `m-${RUN}-half`;
  // What a router that died between creating the delivery and calling session.Deliver leaves.
  const redis = new Redis(world.redisUrl);
  try {
    const store = createDeliveryStore(redis, { maxDepth: 1_000, retentionMs: 60_000 });
    await store.create(
      [
        {
          deliveryId: deliveryIdFor(APPID, messageId, openid),
          appid: APPID,
          openid,
          messageId,
          channel: 'IN_APP',
          priority: 'NORMAL',
          state: 'SENDING',
        },
      ],
      Date.now() - 60_000,
    );
  } finally {
    redis.disconnect();
  }
  const channel = await attach(world.sessions[0], openid);
  try {
    const { results } = await world.client(router).routeMessage({
      appid: APPID,
      messageId,
      openids: [openid],
      policy: RoutePolicy.IN_APP_ONLY,
      inApp: { kind: 'retry.me', payload: new Uint8Array() },
    });
    assert.equal(results[0]?.state, DeliveryState.DELIVERED);
    await waitFor(() => channel.messages.length === 1, {
      ...DEADLINE,
      message: 'the abandoned push never arrived',
    });
  } finally {
    await channel.close();
  }
});

test('an offline user gets the subscribe message; GetDelivery shows the way there', async () => {
  const openid = user('offline');
  await subscribe(world, openid, 'one-time', 1);
  const { results } = await world.client(router).routeMessage({
    appid: APPID,
    messageId: `m-${RUN}-2`,
    openids: [openid],
    inApp: { kind: 'order.paid', payload: new Uint8Array() },
    subscribe: content('offline'),
  });
  assert.deepEqual(
    [results[0]?.channel, results[0]?.state],
    [DeliveryChannel.SUBSCRIBE_MESSAGE, DeliveryState.QUEUED],
  );
  const delivered = await waitForState(results[0]!.deliveryId, DeliveryState.DELIVERED);
  assert.deepEqual(
    delivered.history.map((s) => DeliveryState[s.state]),
    ['QUEUED', 'SENDING', 'DELIVERED'],
  );
  assert.equal(delivered.attempts, 1);
  assert.equal(delivered.templateId, TEMPLATE);
  const sent = await sentMessages(world, openid);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]?.data.thing1?.value, 'offline');
});

test('43101 (the one-time grant is used) fails at once, with the reason, and is never retried', async () => {
  const openid = user('onegrant');
  await subscribe(world, openid, 'one-time', 1);
  const send = (n: number) =>
    world.client(router).sendSubscribeMessages({
      appid: APPID,
      messageId: `m-${RUN}-3-${n}`,
      messages: [{ openid, content: content(`x${n}`) }],
    });
  const first = await send(1);
  await waitForState(first.results[0]!.deliveryId, DeliveryState.DELIVERED);
  const second = await send(2);
  const failed = await waitForState(second.results[0]!.deliveryId, DeliveryState.FAILED);
  assert.equal(failed.lastError?.wechatErrcode, 43101);
  assert.equal(failed.lastError?.retryable, false);
  assert.equal(failed.attempts, 1);
  const stats = (await sandboxCall(world, `/sandbox/mp/subscribe-stats?appid=${APPID}`)) as {
    perUser: Record<string, { sent: number; refused: number }>;
  };
  assert.deepEqual(stats.perUser[openid], { sent: 1, refused: 1 });
});

test('5xx until the attempts run out: dead-lettered, then the replay command sends it again', async () => {
  const openid = user('dead');
  await subscribe(world, openid);
  await sandboxCall(world, '/sandbox/mp/subscribe-send/faults', {
    appid: APPID,
    openid,
    faults: [{ status: 502 }, { status: 503 }, { status: 500 }],
  });
  const { results } = await world.client(router).sendSubscribeMessages({
    appid: APPID,
    messageId: `m-${RUN}-4`,
    messages: [{ openid, content: content('dead') }],
  });
  const dead = await waitForState(results[0]!.deliveryId, DeliveryState.DEAD_LETTERED);
  assert.equal(dead.attempts, 3);
  assert.match(dead.lastError?.message ?? '', /HTTP 50\d; gave up after 3 attempts/);
  assert.deepEqual(
    dead.history.map((s) => DeliveryState[s.state]),
    ['QUEUED', 'SENDING', 'RETRY_SCHEDULED', 'SENDING', 'RETRY_SCHEDULED', 'SENDING', 'DEAD_LETTERED'],
  );
  await replayDeadLetters();
  const delivered = await waitForState(results[0]!.deliveryId, DeliveryState.DELIVERED);
  assert.equal(delivered.attempts, 1, 'a replay starts a fresh attempts budget');
  assert.equal((await sentMessages(world, openid)).length, 1);
});

test('a dead access_token is refreshed once, however many sends saw it, and every send then goes through', async () => {
  const openids = Array.from({ length: 40 }, (_, i) => user(`tok${i}`));
  await Promise.all(openids.map((o) => subscribe(world, o)));
  // Warm the token, then kill it at the sandbox: every send with it now answers 40001.
  const warm = user('tokwarm');
  await subscribe(world, warm);
  const first = await world.client(router).sendSubscribeMessages({
    appid: APPID,
    messageId: `m-${RUN}-5a`,
    messages: [{ openid: warm, content: content('w') }],
  });
  await waitForState(first.results[0]!.deliveryId, DeliveryState.DELIVERED);
  const before = (await sandboxCall(world, '/sandbox/mp/counters')) as Record<
    string,
    { stableTokensIssued: number }
  >;
  await sandboxCall(world, '/sandbox/mp/tokens/revoke', { appid: APPID });
  const { results } = await world.client(router).sendSubscribeMessages({
    appid: APPID,
    messageId: `m-${RUN}-5`,
    messages: openids.map((openid) => ({ openid, content: content('t') })),
  });
  for (const r of results) await waitForState(r.deliveryId, DeliveryState.DELIVERED);
  const afterCounters = (await sandboxCall(world, '/sandbox/mp/counters')) as Record<
    string,
    { stableTokensIssued: number }
  >;
  assert.equal(
    afterCounters[APPID]!.stableTokensIssued - before[APPID]!.stableTokensIssued,
    1,
    'one refresh',
  );
});

test('a paid order produces exactly one payment notice, across redelivered events and a router restart', async () => {
  const openid = user('payer');
  await subscribe(world, openid, 'one-time', 5, PAYMENT_TEMPLATE);
  // A second replica in the notices group (every router runs the consumer), to stop mid-test.
  const notices = await world.startRouter();
  const kafka = createKafka({
    clientId: 'router-test',
    brokers: world.infra.kafkaBrokers.split(','),
    logger: silent,
  });
  const producer = createEventProducer({ kafka, producer: 'payment-callback' });
  await producer.connect();
  try {
    const paidInit = {
      eventId: `payment:${RUN}:paid`,
      aggregateId: `payment:otn_${RUN}`,
      occurredAt: Date.now(),
      producer: 'payment-callback',
      wechat: { openid, appid: APPID },
      payload: {
        case: 'paymentSucceeded' as const,
        value: {
          outTradeNo: `otn_${RUN}`,
          transactionId: `tx${RUN}`,
          amountTotal: 1234,
          payerTotal: 1234,
          currency: 'CNY',
        },
      },
    };
    const paid = behaviourEvent(paidInit);
    await producer.emit(paid);
    await waitFor(async () => (await sentMessages(world, openid)).length === 1, {
      ...DEADLINE,
      message: 'no payment notice',
    });
    // The same event redelivered (producer retry, replay), then again after a restart.
    await producer.emit(paid);
    notices.child.kill('SIGTERM');
    await notices.exited;
    await world.startRouter();
    await producer.emit(paid);
    // A second order of the same payer (same record key, so same partition, so after the
    // duplicate): once its notice is out, the duplicate has been consumed too.
    await producer.emit(
      behaviourEvent({
        ...paidInit,
        eventId: `payment:${RUN}:paid2`,
        payload: {
          case: 'paymentSucceeded',
          value: { ...paidInit.payload.value, outTradeNo: `otn2_${RUN}` },
        },
      }),
    );
    await waitFor(async () => (await sentMessages(world, openid)).length >= 2, {
      ...DEADLINE,
      message: 'the second order got no notice',
    });
    const sent = await sentMessages(world, openid);
    assert.deepEqual(sent.map((m) => m.data.character_string1?.value).sort(), [`otn2_${RUN}`, `otn_${RUN}`]);
    assert.equal(sent[0]?.data.amount2?.value, '12.34元');
  } finally {
    await producer.disconnect();
  }
});

test('a full queue refuses new messages with ResourceExhausted and takes nothing of the batch', async () => {
  const small = await world.startRouter({ QUEUE_MAX_DEPTH: '5' });
  const messageId = `m-${RUN}-full`;
  const openids = Array.from({ length: 50 }, (_, i) => user(`full${i}`));
  const refused = await codeOf(
    world.client(small).sendSubscribeMessages({
      appid: APPID,
      messageId,
      messages: openids.map((openid) => ({ openid, content: content('full') })),
    }),
  );
  assert.equal(refused, 'ResourceExhausted');
  for (const openid of openids.slice(0, 5)) {
    assert.equal(
      await codeOf(world.client(router).getDelivery({ deliveryId: deliveryIdFor(APPID, messageId, openid) })),
      'NotFound',
    );
  }
  small.child.kill('SIGTERM');
  await small.exited;
});

async function replayDeadLetters(): Promise<void> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/replay-dead-letters.ts', '--all'],
    {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, REDIS_URL: world.redisUrl },
    },
  );
  assert.match(stdout, /replayed 1 dead letter/);
}
