import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { loadConfigOrExit } from '@wxmesh/config';
import { redisDependency, type RedisClient } from '@wxmesh/redis';
import { AuthVerifyService, SessionService } from '@wxmesh/contracts';
import { connectEventProducer, createKafka, type EventProducer } from '@wxmesh/events';
import { createTokenBucket } from '@wxmesh/resilience';
import { createPeerClient, definePeer, echoService, runService, type Logger } from '@wxmesh/rpc';
import { createWeChatApi } from '@wxmesh/wechat';
import { createAccessTokens } from './adapters/access-tokens.js';
import { createDeliveryStore, type DeliveryStore } from './adapters/delivery-store.js';
import { createInboundStore } from './adapters/inbound-store.js';
import { createRouterRedis } from './adapters/router-redis.js';
import { createSubscribeSender } from './adapters/subscribe-sender.js';
import { createSubscriptionStore, type SubscriptionStore } from './adapters/subscription-store.js';
import { createAcceptPush } from './app/accept-push.js';
import { createPaymentNoticeConsumer } from './app/payment-notices.js';
import { createInboundProcessor } from './app/process-inbound.js';
import { createEventOutbox } from './app/publish-events.js';
import { routeMessage, type RouteRequest } from './app/route-message.js';
import { createSendWorkers } from './app/send-workers.js';
import { routerConfigSchema, type RouterConfig } from './config.js';
import { createRouterMetrics } from './metrics.js';
import { createPushWebhook } from './push-webhook.js';
import { createMessageRouterService } from './service.js';

const config = loadConfigOrExit(routerConfigSchema);
const now = Date.now;

await runService('message-router', config, async ({ logger }) => {
  // Unique per process lifetime: a restarted process is a new consumer, and its predecessor's
  // pending jobs are reclaimed after QUEUE_CLAIM_IDLE.
  const consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const { redis, queueReader, inboundReader } = createRouterRedis(config, logger);
  await Promise.all([redis.connect(), queueReader.connect(), inboundReader.connect()]);
  const kafka = createKafka({ clientId: 'message-router', config, logger });
  const producer = await connectEventProducer({
    kafka,
    producer: 'message-router',
    logger,
    createTopics: config.EVENTS_CREATE_TOPICS,
  });

  const store = createDeliveryStore(redis, {
    maxDepth: config.QUEUE_MAX_DEPTH,
    retentionMs: config.DELIVERY_RETENTION,
    reader: queueReader,
  });
  await store.init();
  const subscriptions = createSubscriptionStore(redis);
  const outbox = createEventOutbox({ store, producer, logger, intervalMs: 200, batchSize: 500 });
  const sending = startSending({ redis, store, subscriptions, consumer, logger, kick: outbox.kick });
  const inbound = startInbound({ redis, inboundReader, subscriptions, producer, consumer, logger });
  const session = createPeerClient(definePeer(SessionService, ['getPresenceBatch', 'deliver']), {
    address: config.SESSION_ADDR,
    from: 'message-router',
    defaultDeadlineMs: config.PEER_DEADLINE_MS,
  });
  const route = async (request: RouteRequest, signal?: AbortSignal) => {
    const deps = {
      store,
      session,
      now,
      logger,
      deliverConcurrency: config.DELIVER_CONCURRENCY,
      // A push takes at most DELIVER_TIMEOUT at session (2 s by default): 30 s means it died.
      inAppStaleMs: 30_000,
    };
    const results = await routeMessage(request, deps, signal);
    outbox.kick();
    return results;
  };
  const paymentNotices = createPaymentNoticeConsumer({
    kafka,
    groupId: config.PAYMENT_NOTICE_GROUP,
    maxAgeMs: config.PAYMENT_NOTICE_MAX_AGE,
    now,
    route,
    template: paymentNoticeTemplate(config),
    logger,
  });
  outbox.start();
  await paymentNotices.start();
  logger.info({ consumer }, 'message-router workers started');

  return {
    services: [createMessageRouterService({ route, getDelivery: (id) => store.get(id) }), echoService],
    httpRoutes: [inbound.webhook],
    dependencies: [redisDependency(redis)],
    closers: [
      { name: 'payment notices', run: () => paymentNotices.stop() },
      { name: 'inbound', run: () => inbound.stop() },
      { name: 'send workers', run: () => sending.stop() },
      { name: 'event outbox', run: () => outbox.stop() },
      { name: 'session', run: async () => session.close() },
      { name: 'kafka', run: () => producer.disconnect() },
      { name: 'redis', run: async () => void (await Promise.all([redis.quit(), queueReader.quit()])) },
    ],
  };
});

/** The subscribe-message workers: WeChat's send API, the app's token and rate limit, the retry policy. */
function startSending(deps: {
  redis: RedisClient;
  store: DeliveryStore;
  subscriptions: SubscriptionStore;
  consumer: string;
  logger: Logger;
  kick: () => void;
}) {
  const authVerify = createPeerClient(
    definePeer(AuthVerifyService, ['getAccessToken', 'invalidateAccessToken']),
    {
      address: config.AUTH_VERIFY_ADDR,
      from: 'message-router',
      defaultDeadlineMs: config.PEER_DEADLINE_MS,
    },
  );
  const sender = createSubscribeSender(createWeChatApi({ baseUrl: config.WECHAT_API_BASE_URL }), {
    timeoutMs: config.WECHAT_TIMEOUT,
    resetMs: config.WECHAT_BREAKER_RESET,
    errorThresholdPercentage: config.WECHAT_BREAKER_THRESHOLD,
  });
  const metrics = createRouterMetrics(deps.store, now);
  const rateLimit = createTokenBucket(deps.redis, {
    keyPrefix: 'wxm:router:rate:',
    capacity: config.SEND_RATE_BURST,
    refillPerSecond: config.SEND_RATE_PER_SECOND,
  });
  const workers = createSendWorkers(
    {
      store: deps.store,
      tokens: createAccessTokens(authVerify, { now }),
      sender,
      subscriptions: deps.subscriptions,
      rateLimit,
      policy: {
        maxAttempts: config.SEND_MAX_ATTEMPTS,
        backoffBaseMs: config.SEND_BACKOFF_BASE,
        backoffMaxMs: config.SEND_BACKOFF_MAX,
        quotaDelayMs: config.SEND_QUOTA_DELAY,
        frequencyDelayMs: config.SEND_FREQUENCY_DELAY,
      },
      now,
      random: Math.random,
      logger: deps.logger,
      onOutcome: (outcome, errcode) => {
        metrics.send(outcome, errcode);
        deps.kick();
      },
    },
    {
      concurrency: config.SEND_CONCURRENCY,
      consumer: deps.consumer,
      claimIdleMs: config.QUEUE_CLAIM_IDLE,
      promoteIntervalMs: 200,
      blockMs: 1_000,
    },
  );
  workers.start();
  return {
    async stop(): Promise<void> {
      await workers.stop();
      sender.close();
      authVerify.close();
    },
  };
}

/** The message-push webhook and the processor that turns accepted pushes into events. */
function startInbound(deps: {
  redis: RedisClient;
  /** The inbound processor's blocking reads; the store ends it on close. */
  inboundReader: RedisClient;
  subscriptions: SubscriptionStore;
  producer: EventProducer;
  consumer: string;
  logger: Logger;
}) {
  const store = createInboundStore(deps.redis, {
    maxEntries: config.INBOUND_MAX_ENTRIES,
    reader: deps.inboundReader,
  });
  const processor = createInboundProcessor({
    store,
    subscriptions: deps.subscriptions,
    producer: deps.producer,
    logger: deps.logger,
    consumerName: deps.consumer,
    claimIdleMs: config.INBOUND_CLAIM_IDLE,
    now,
  });
  const webhook = createPushWebhook({
    path: config.WECHAT_PUSH_PATH,
    apps: config.WECHAT_PUSH_APPS,
    acceptPush: createAcceptPush({ store, logger: deps.logger, now }),
    logger: deps.logger,
    maxBodyBytes: config.INBOUND_MAX_BODY,
    maxInFlight: config.INBOUND_CONCURRENCY,
    deadlineMs: config.INBOUND_ACCEPT_DEADLINE,
  });
  processor.start();
  return {
    webhook,
    async stop(): Promise<void> {
      await processor.stop();
      await store.close();
    },
  };
}

function paymentNoticeTemplate(c: RouterConfig) {
  return c.PAYMENT_NOTICE_TEMPLATE_ID === undefined
    ? undefined
    : { templateId: c.PAYMENT_NOTICE_TEMPLATE_ID, page: c.PAYMENT_NOTICE_PAGE };
}
