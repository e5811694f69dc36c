// message-router's inbound side end to end: the WeChat sandbox pushes signed, encrypted messages to a
// real router process, as WeChat does, and the test reads what comes out on Kafka and in Redis. URL
// verification, safe-mode XML and JSON, WeChat's retries, a SIGKILL right after the answer, the
// subscription state outbound sending consults, and no secret in any log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  DeliveryState,
  ReceivedMessageType,
  SubscriptionSource,
  SubscriptionStatus,
  type BehaviourEvent,
} from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';
import { collectTopic, waitFor, type ServiceProcess, type TopicCollector } from '@wxmesh/testing';
import { createMessageCrypt } from '@wxmesh/wechat';
import { INBOUND_GROUP, inboundKeys } from '../src/adapters/inbound-store.js';
import { inboundEventId } from '../src/domain/push-message.js';
import {
  APPID,
  TEMPLATE,
  sandboxCall,
  sentMessages,
  startRouterWorld,
  subscribe,
  type RouterWorld,
} from './mesh.js';

const RUN = randomBytes(3).toString('hex');
const user = (name: string) => `o_${RUN}_${name}`;
/** Generous: several processes share two busy cores. */
const DEADLINE = { timeoutMs: 60_000 };
/** The push Token and EncodingAESKey as the admin console takes them: letters and digits. */
const TOKEN = randomBytes(12).toString('hex');
const AES_KEY = lettersAndDigits(43);
const PUSH_APPS = `${APPID}:${TOKEN}:${AES_KEY}`;
/** A text message's content: personal data, which must never reach a log line either. */
const CONTENT = `content-${randomBytes(8).toString('hex')}`;
/** A Redis database of this file's own, for the routers of the SIGKILL test (the other specs use 7, 11-14). */
const CRASH_DB = 10;

let world: RouterWorld;
let router: ServiceProcess;
let events: TopicCollector<BehaviourEvent>;
/** Every router this file started, for the log check. */
const routers: ServiceProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  world = await startRouterWorld({ redisDb: 5 });
  router = await startRouter();
  // The router has made the behaviour topic by now.
  events = await collectTopic(world.infra.kafkaBrokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: decodeBehaviourEvent,
  });
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await events?.stop();
  await world?.stop();
});

function lettersAndDigits(length: number): string {
  let out = '';
  while (out.length < length)
    out += randomBytes(64)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '');
  return out.slice(0, length);
}

async function startRouter(env: Record<string, string> = {}): Promise<ServiceProcess> {
  const started = await world.startRouter({ WECHAT_PUSH_APPS: PUSH_APPS, ...env });
  routers.push(started);
  return started;
}

const webhookUrl = (target: ServiceProcess) => `${target.httpUrl}/webhooks/wechat/message/${APPID}`;

/** Points the sandbox's message push for the app at `target`, in safe mode unless told otherwise. */
async function configurePush(target: ServiceProcess, format: 'xml' | 'json', mode = 'safe') {
  await sandboxCall(world, '/sandbox/mp/push-config', {
    appid: APPID,
    url: webhookUrl(target),
    token: TOKEN,
    encodingAesKey: AES_KEY,
    mode,
    format,
  });
}

interface PushResult {
  attempts: Array<{ status?: number; error?: string; ms: number }>;
  answered: boolean;
  reply?: string;
}

/** The sandbox pushes `message` as WeChat does; resolves once WeChat would have its answer. */
async function push(message: Record<string, unknown>, deliveries = 1): Promise<PushResult> {
  return (await sandboxCall(world, '/sandbox/mp/push', {
    appid: APPID,
    message,
    deliveries,
  })) as unknown as PushResult;
}

let sequence = 0;
/** A fresh 64-bit MsgId, above 2^53 as WeChat's are (a number would round it). */
const msgId = () => String(BigInt(Date.now()) * 100_000n + BigInt(++sequence));

const text = (openid: string, id: string) => ({
  FromUserName: openid,
  MsgType: 'text',
  Content: CONTENT,
  MsgId: id,
});

const eventsOf = (openid: string) => events.records.filter((e) => e.wechat?.openid === openid);

const received = (openid: string, id: string) =>
  eventsOf(openid).filter((e) => e.payload.case === 'messageReceived' && e.payload.value.msgId === id);

/** Waits for the MessageReceived of `id`; resolves with every copy seen so far. */
async function waitForReceived(openid: string, id: string) {
  return waitFor(() => (received(openid, id).length > 0 ? received(openid, id) : undefined), {
    ...DEADLINE,
    message: `MessageReceived ${id} of ${openid} on Kafka`,
  });
}

/**
 * A later push of the same user, pushed and seen: a user's events share a key, so a partition,
 * so every event emitted for the user before it has been read by now.
 */
async function sentinel(openid: string) {
  const id = msgId();
  const result = await push(text(openid, id));
  assert.equal(result.answered, true, 'the sentinel push was answered');
  await waitForReceived(openid, id);
}

function assertAnswered(result: PushResult, attempts = 1) {
  assert.equal(result.answered, true);
  assert.deepEqual(
    result.attempts.map((a) => a.status ?? a.error),
    Array.from({ length: attempts }, () => 200),
  );
  assert.equal(result.reply, 'success');
}

function assertMessageReceived(event: BehaviourEvent | undefined, openid: string, id: string) {
  assert.ok(event);
  assert.equal(event.eventId, inboundEventId(APPID, `m:${id}`, 0), 'the deterministic event id');
  assert.equal(event.aggregateId, `user:${openid}`);
  assert.equal(event.producer, 'message-router');
  assert.deepEqual({ openid: event.wechat?.openid, appid: event.wechat?.appid }, { openid, appid: APPID });
  assert.equal(event.payload.case, 'messageReceived');
  assert.deepEqual(
    event.payload.case === 'messageReceived' && {
      msgId: event.payload.value.msgId,
      type: event.payload.value.type,
      rawType: event.payload.value.rawType,
    },
    { msgId: id, type: ReceivedMessageType.TEXT, rawType: 'text' },
  );
}

test("WeChat's URL verification is answered with echostr; a wrong signature is refused", async () => {
  const crypt = createMessageCrypt({ token: TOKEN, encodingAesKey: AES_KEY, appid: APPID });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(randomBytes(4).readUInt32BE(0));
  const echostr = `echo${randomBytes(8).toString('hex')}`;
  const verify = (signature: string) =>
    fetch(`${webhookUrl(router)}?${new URLSearchParams({ signature, timestamp, nonce, echostr })}`);

  const ok = await verify(crypt.signature(timestamp, nonce));
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), echostr);

  const otherToken = createMessageCrypt({ token: `${TOKEN}x`, encodingAesKey: AES_KEY, appid: APPID });
  for (const signature of [otherToken.signature(timestamp, nonce), crypt.signature(timestamp, `${nonce}1`)]) {
    const refused = await verify(signature);
    assert.equal(refused.status, 401);
    assert.notEqual(await refused.text(), echostr);
  }
});

test('safe-mode encrypted XML and JSON pushes are accepted and become one MessageReceived each', async () => {
  const cases = [
    { format: 'xml' as const, openid: user('xml'), id: msgId() },
    { format: 'json' as const, openid: user('json'), id: msgId() },
  ];
  for (const { format, openid, id } of cases) {
    await configurePush(router, format);
    assertAnswered(await push(text(openid, id)));
  }
  for (const { openid, id } of cases) {
    await waitForReceived(openid, id);
    await sentinel(openid);
    const copies = received(openid, id);
    assert.equal(copies.length, 1, `one event for ${id}`);
    assertMessageReceived(copies[0], openid, id);
  }
});

test('a push WeChat delivers 3 times becomes one event', async () => {
  await configurePush(router, 'xml');
  const openid = user('thrice');
  const id = msgId();
  assertAnswered(await push(text(openid, id), 3), 3);
  await waitForReceived(openid, id);
  await sentinel(openid);
  assert.equal(received(openid, id).length, 1);
  assertMessageReceived(received(openid, id)[0], openid, id);
});

/** SendSubscribeMessages of the test template to `openid`; resolves with the delivery id. */
async function sendTo(openid: string, n: string): Promise<string> {
  const { results } = await world.client(router).sendSubscribeMessages({
    appid: APPID,
    messageId: `m-${RUN}-${n}`,
    messages: [{ openid, content: { templateId: TEMPLATE, data: { thing1: n, amount2: '1.00元' } } }],
  });
  return results[0]!.deliveryId;
}

/** The delivery once it is DELIVERED, FAILED or DEAD_LETTERED. */
function finalState(deliveryId: string) {
  const done = [DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.DEAD_LETTERED];
  return waitFor(
    async () => {
      const { delivery } = await world.client(router).getDelivery({ deliveryId });
      return delivery && done.includes(delivery.state) ? delivery : undefined;
    },
    { ...DEADLINE, message: `delivery ${deliveryId} ends` },
  );
}

/** The SubscriptionChanged events of `openid` seen so far (emitted once the state is recorded). */
const answersOf = (openid: string) =>
  eventsOf(openid).flatMap((e) => (e.payload.case === 'subscriptionChanged' ? [e.payload.value] : []));

const waitForAnswers = (openid: string, count: number) =>
  waitFor(() => answersOf(openid).length >= count, {
    ...DEADLINE,
    message: `${count} subscription answers of ${openid}`,
  });

test('a reject pushed by WeChat fails a later send with 43101 without calling WeChat', async () => {
  // Subscribed at WeChat (the sandbox would deliver), but the user's popup answer says reject:
  // the router must not even try.
  const rejecter = user('rejecter');
  await subscribe(world, rejecter, 'long-term');
  await configurePush(router, 'xml');
  assertAnswered(
    await push({
      FromUserName: rejecter,
      MsgType: 'event',
      Event: 'subscribe_msg_popup_event',
      SubscribeMsgPopupEvent: {
        List: { TemplateId: TEMPLATE, SubscribeStatusString: 'reject', PopupScene: 0 },
      },
    }),
  );
  await waitForAnswers(rejecter, 1);
  assert.deepEqual(
    answersOf(rejecter).map((a) => [a.templateId, a.status, a.source]),
    [[TEMPLATE, SubscriptionStatus.REJECT, SubscriptionSource.POPUP]],
  );
  const refused = await finalState(await sendTo(rejecter, 'r1'));
  assert.equal(DeliveryState[refused.state], 'FAILED');
  assert.equal(refused.lastError?.wechatErrcode, 43101);
  assert.equal(refused.lastError?.retryable, false);
  const stats = (await sandboxCall(world, `/sandbox/mp/subscribe-stats?appid=${APPID}`)) as {
    perUser: Record<string, { sent: number; refused: number }>;
  };
  const attempts = stats.perUser[rejecter];
  assert.ok(
    !attempts || attempts.sent + attempts.refused === 0,
    'no send attempt reached WeChat for the rejecter',
  );
  assert.deepEqual(await sentMessages(world, rejecter), []);
});

test('a later accept pushed for another user lets the send through', async () => {
  // The popup events of the sandbox's fixture, JSON this time (a top-level List), a second apart
  // on WeChat's clock so they are two events: the later answer wins.
  const accepter = user('accepter');
  await configurePush(router, 'json');
  const answer = async (status: 'accept' | 'reject') => {
    const body = await sandboxCall(world, '/sandbox/mp/subscriptions', {
      appid: APPID,
      openid: accepter,
      template_id: TEMPLATE,
      kind: 'long-term',
      status,
      push: true,
    });
    assertAnswered(body.push as PushResult);
  };
  await answer('reject');
  await waitForAnswers(accepter, 1);
  await sandboxCall(world, '/sandbox/mp/clock', { advanceMs: 1_000 });
  await answer('accept');
  await waitForAnswers(accepter, 2);
  assert.deepEqual(
    answersOf(accepter).map((a) => a.status),
    [SubscriptionStatus.REJECT, SubscriptionStatus.ACCEPT],
  );
  const delivered = await finalState(await sendTo(accepter, 'a1'));
  assert.equal(DeliveryState[delivered.state], 'DELIVERED');
  assert.equal((await sentMessages(world, accepter)).length, 1);
});

test('an accepted push survives a SIGKILL of the router right after its answer', async () => {
  const claimIdle = { INBOUND_CLAIM_IDLE: '2s' };
  const direct = withDb(world.infra.redisUrl, CRASH_DB);
  const redis = new Redis(direct);
  cleanups.push(async () => redis.disconnect());
  await redis.flushdb();
  const { stream } = inboundKeys;

  // Router A reads Redis through a proxy that swallows its inbound reads that carry entries: the
  // push is accepted and handed to A's consumer, and A never gets to process it, as when it dies
  // right after answering. Deterministic, where a bare race with the kill would mostly test nothing.
  const proxy = await startSwallowingProxy(new URL(direct));
  cleanups.push(() => proxy.close());
  const a = await startRouter({
    ...claimIdle,
    REDIS_URL: withDb(proxy.url, CRASH_DB),
    PAYMENT_NOTICE_GROUP: `inbound-crash-${RUN}`,
  });
  const consumerOfA = a.logs.find((l) => l.msg === 'message-router workers started')?.consumer;
  assert.equal(typeof consumerOfA, 'string');
  await configurePush(a, 'xml');
  const openid = user('crash');
  const id = msgId();
  assertAnswered(await push(text(openid, id)));
  const pending = await waitFor(
    async () => {
      const entries = (await redis.xpending(stream, INBOUND_GROUP, '-', '+', 10)) as Array<[string, string]>;
      return entries.length > 0 ? entries : undefined;
    },
    { ...DEADLINE, message: 'the accepted push pending at router A' },
  );
  a.child.kill('SIGKILL');
  await a.exited;
  assert.deepEqual(
    pending.map(([, consumer]) => consumer),
    [consumerOfA],
    'the push was read by A alone',
  );
  assert.equal(proxy.swallowed(), 1, "A's read of the push never reached A");
  assert.equal(await redis.xlen(stream), 1);
  assert.equal(received(openid, id).length, 0, 'A emitted nothing');

  // Router B, a new process: it takes the entry over once it has been idle for the claim time.
  const b = await startRouter({ ...claimIdle, REDIS_URL: direct });
  await waitForReceived(openid, id);
  await configurePush(b, 'xml');
  await sentinel(openid);
  await waitFor(
    async () =>
      (await redis.xlen(stream)) === 0 && Number((await redis.xpending(stream, INBOUND_GROUP))[0]) === 0,
    { ...DEADLINE, message: 'the inbound stream empty, nothing pending' },
  );
  assert.equal(received(openid, id).length, 1, 'exactly one event for the push');
  assertMessageReceived(received(openid, id)[0], openid, id);
  assert.ok(
    b.logs.some((l) => l.msg === 'claimed idle inbound entries'),
    'B took the push over from the dead A',
  );
});

test('no secret and no message content in any router log line', () => {
  const secrets = [TOKEN, AES_KEY, CONTENT, ...world.secrets];
  assert.ok(routers.length >= 3);
  const lines = routers.flatMap((r) => r.logs);
  assert.ok(
    lines.filter((l) => l.msg === 'push received').length >= 8,
    'the routers logged the pushes they took in',
  );
  for (const line of lines) {
    const written = JSON.stringify(line);
    for (const secret of secrets) assert.ok(!written.includes(secret), `a secret in a log line: ${line.msg}`);
  }
});

function withDb(redisUrl: string, db: number): string {
  const url = new URL(redisUrl);
  url.pathname = `/${db}`;
  return url.toString();
}

/**
 * A TCP proxy to Redis for one router. On the connection that reads the inbound stream
 * (XREADGROUP on `{inbound}:stream`), the first answer carrying entries, and all after it, is
 * swallowed: Redis has handed the entries to the router's consumer (they are pending there), and
 * the router waits forever for them. Every other connection and answer passes untouched.
 */
async function startSwallowingProxy(target: URL) {
  const STREAM = '{inbound}:stream';
  let swallowed = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    let reader = false;
    let muted = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      const sent = chunk.toString('latin1');
      if (/xreadgroup/i.test(sent) && sent.includes(STREAM)) reader = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (reader && !muted && chunk.toString('latin1').includes(STREAM)) {
        muted = true;
        swallowed++;
      }
      if (!muted) client.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    swallowed: () => swallowed,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
