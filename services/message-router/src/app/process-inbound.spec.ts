// The inbound processor against real Redis and Kafka: accepted pushes become behaviour events and
// subscription state, exactly the same event ids however often an entry is processed, failures
// leave entries pending and back off, and stop() finishes the batch in hand.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, test } from 'node:test';
import {
  ReceivedMessageType,
  SubscriptionSource,
  SubscriptionStatus,
  type BehaviourEvent,
} from '@wxmesh/contracts';
import {
  BEHAVIOUR_TOPIC,
  connectEventProducer,
  decodeBehaviourEvent,
  type EventProducer,
} from '@wxmesh/events';
import { createLogger } from '@wxmesh/rpc';
import {
  collectTopic,
  type Infra,
  startInfra,
  testKafka,
  type TopicCollector,
  waitFor,
} from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { createInboundStore, inboundKeys, type InboundStore } from '../adapters/inbound-store.js';
import { createSubscriptionStore } from '../adapters/subscription-store.js';
import { inboundEventId } from '../domain/push-message.js';
import { createInboundProcessor, type InboundProcessorOptions } from './process-inbound.js';

const RUN = randomBytes(4).toString('hex');
const openidOf = (name: string) => `o_${RUN}_${name}`;
const APPID = 'wx0123456789abcdef';
const logger = createLogger({ name: 'process-inbound-test', level: 'silent' });

let infra: Infra<{ redis: true; kafka: true }>;
let redis: Redis;
let producer: EventProducer;
let topic: TopicCollector<BehaviourEvent>;
let store: InboundStore;

const popup = (openid: string, createTime: number) => ({
  ToUserName: 'gh_123456789abc',
  FromUserName: openid,
  CreateTime: String(createTime),
  MsgType: 'event',
  Event: 'subscribe_msg_popup_event',
  SubscribeMsgPopupEvent: {
    List: [
      { TemplateId: 'T_accept', SubscribeStatusString: 'accept', PopupScene: '2' },
      { TemplateId: 'T_reject', SubscribeStatusString: 'reject', PopupScene: '2' },
    ],
  },
});
const text = (openid: string, msgId: string) => ({
  ToUserName: 'gh_123456789abc',
  FromUserName: openid,
  CreateTime: '1700000000',
  MsgType: 'text',
  Content: 'hello',
  MsgId: msgId,
});

function processor(overrides: Partial<InboundProcessorOptions> = {}) {
  return createInboundProcessor({
    store,
    subscriptions: createSubscriptionStore(redis),
    producer,
    logger,
    consumerName: `c-${randomBytes(3).toString('hex')}`,
    claimIdleMs: 200,
    now: Date.now,
    blockMs: 100,
    minPauseMs: 50,
    maxPauseMs: 400,
    ...overrides,
  });
}

const eventsOf = (openid: string) => topic.records.filter((e) => e.wechat?.openid === openid);

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  redis = new Redis(infra.redisUrl, { db: 14, enableAutoPipelining: true });
  const kafka = testKafka(infra.kafkaBrokers, 'process-inbound-test');
  producer = await connectEventProducer({ kafka, producer: 'message-router', createTopics: true });
  topic = await collectTopic(infra.kafkaBrokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: decodeBehaviourEvent,
  });
});

beforeEach(async () => {
  await store?.close();
  await redis.flushdb();
  store = createInboundStore(redis, { maxEntries: 1000 });
});

after(async () => {
  await store?.close();
  await topic?.stop();
  await producer?.disconnect();
  redis?.disconnect();
  await infra?.stop();
});

test('accepted pushes become their behaviour events and subscription state, then leave the stream', async () => {
  const user = openidOf('popup');
  await store.accept(APPID, 'e:popup', popup(user, 1700000100), Date.now());
  await store.accept(APPID, 'm:77', text(user, '77'), Date.now());
  const p = processor();
  p.start();
  const events = await waitFor(() => (eventsOf(user).length >= 3 ? eventsOf(user) : undefined), {
    timeoutMs: 20_000,
    message: 'three events on Kafka',
  });
  await p.stop();

  const byId = new Map(events.map((e) => [e.eventId, e]));
  const changed = byId.get(inboundEventId(APPID, 'e:popup', 0));
  assert.equal(changed?.payload.case, 'subscriptionChanged');
  assert.deepEqual(
    changed.payload.case === 'subscriptionChanged' && {
      templateId: changed.payload.value.templateId,
      status: changed.payload.value.status,
      source: changed.payload.value.source,
      popupScene: changed.payload.value.popupScene,
    },
    {
      templateId: 'T_accept',
      status: SubscriptionStatus.ACCEPT,
      source: SubscriptionSource.POPUP,
      popupScene: 2,
    },
  );
  assert.equal(changed.aggregateId, `user:${user}`);
  assert.equal(changed.producer, 'message-router');
  assert.equal(changed.wechat?.appid, APPID);
  assert.equal(Number(changed.occurredAt?.seconds), 1700000100, 'occurred at WeChat’s CreateTime');
  assert.equal(byId.get(inboundEventId(APPID, 'e:popup', 1))?.payload.case, 'subscriptionChanged');
  const received = byId.get(inboundEventId(APPID, 'm:77', 0));
  assert.equal(received?.payload.case, 'messageReceived');
  assert.equal(
    received.payload.case === 'messageReceived' && received.payload.value.type,
    ReceivedMessageType.TEXT,
  );

  const subscriptions = createSubscriptionStore(redis);
  assert.equal(await subscriptions.status(APPID, user, 'T_accept'), 'accept');
  assert.equal(await subscriptions.status(APPID, user, 'T_reject'), 'reject');
  assert.equal(await store.length(), 0, 'processed entries are deleted');
});

test('an entry processed twice yields the same event ids (consumers drop the copy)', async () => {
  const user = openidOf('twice');
  const fields = text(user, '88');
  const p = processor();
  p.start();
  await store.accept(APPID, 'm:88', fields, Date.now());
  await waitFor(() => eventsOf(user).length === 1, { timeoutMs: 20_000, message: 'first event' });
  // As if the entry had been processed, then its ack lost: the same stored push comes round again.
  await redis.xadd(inboundKeys.stream, '*', 'a', APPID, 'k', 'm:88', 'f', JSON.stringify(fields), 't', '1');
  await waitFor(() => eventsOf(user).length === 2, { timeoutMs: 20_000, message: 'the re-processed event' });
  await p.stop();
  const [first, second] = eventsOf(user);
  assert.equal(first!.eventId, second!.eventId);
  assert.equal(first!.eventId, inboundEventId(APPID, 'm:88', 0));
});

test('Kafka refusing leaves the entry pending with growing pauses; it is claimed and finished later', async () => {
  const user = openidOf('kafka-down');
  const calls: number[] = [];
  let failuresLeft = 4;
  const flaky: Pick<EventProducer, 'emit'> = {
    async emit(...events) {
      calls.push(Date.now());
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('KafkaJSConnectionError: broker unreachable (injected)');
      }
      return producer.emit(...events);
    },
  };
  await store.accept(APPID, 'm:99', text(user, '99'), Date.now());
  const p = processor({ producer: flaky });
  p.start();
  await waitFor(() => eventsOf(user).length === 1, {
    timeoutMs: 20_000,
    message: 'the event after recovery',
  });
  await p.stop();
  assert.equal(await store.length(), 0);
  const gaps = calls.slice(1, 5).map((t, i) => t - calls[i]!);
  assert.ok(
    gaps.every((gap) => gap >= 45),
    `every retry waited at least the minimum pause: ${gaps.join(', ')} ms`,
  );
  assert.ok(calls.length <= 6, `no hot loop: ${calls.length} emits`);
});

test('a consumer that died with entries pending: another replica claims and finishes them', async () => {
  const user = openidOf('orphan');
  await store.ensureGroup();
  await store.accept(APPID, 'm:111', text(user, '111'), Date.now());
  const orphaned = await store.read('dead-replica', 10, 10);
  assert.equal(orphaned.length, 1);
  const p = processor({ claimIdleMs: 300 });
  p.start();
  await waitFor(() => eventsOf(user).length === 1, { timeoutMs: 20_000, message: 'the orphan’s event' });
  await p.stop();
  assert.equal(await store.length(), 0);
});

test('stop() lets the batch in hand finish: its entries are done, not left pending', async () => {
  const user = openidOf('stop');
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let entered = false;
  const slow: Pick<EventProducer, 'emit'> = {
    async emit(...events) {
      entered = true;
      await gate;
      return producer.emit(...events);
    },
  };
  await store.accept(APPID, 'm:222', text(user, '222'), Date.now());
  const p = processor({ producer: slow });
  p.start();
  await waitFor(() => entered, { message: 'the batch is being emitted' });
  let stopped = false;
  const stopping = p.stop().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, 'stop waits for the batch');
  release();
  await stopping;
  assert.equal(await store.length(), 0, 'the batch was finished and acknowledged');
  await waitFor(() => eventsOf(user).length === 1, { timeoutMs: 20_000 });
});

test('an entry that can never become events is dropped, not retried forever', async () => {
  const user = openidOf('poison');
  await store.ensureGroup();
  await redis.xadd(inboundKeys.stream, '*', 'a', APPID, 'k', 'm:bad', 'f', '{"MsgType":"text"}', 't', '1');
  await store.accept(APPID, 'm:333', text(user, '333'), Date.now());
  const p = processor();
  p.start();
  await waitFor(() => eventsOf(user).length === 1, { timeoutMs: 20_000, message: 'the good entry’s event' });
  await waitFor(async () => (await store.length()) === 0, { message: 'both entries gone' });
  await p.stop();
});
