import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { loadConfigOrExit } from '@wxmesh/config';
import { AuthVerifyService, SessionService } from '@wxmesh/contracts';
import { createEventProducer, createKafka, ensureBehaviourTopics } from '@wxmesh/events';
import { createTokenBucket } from '@wxmesh/resilience';
import { createPeerClient, definePeer, echoService, runService } from '@wxmesh/rpc';
import { createWeChatApi } from '@wxmesh/wechat';
import { createAccessTokens } from './adapters/access-tokens.js';
import { createDeliveryStore } from './adapters/delivery-store.js';
import { createInboundStore } from './adapters/inbound-store.js';
import { createSubscribeSender } from './adapters/subscribe-sender.js';
import { createSubscriptionStore } from './adapters/subscription-store.js';
import { createAcceptPush } from './app/accept-push.js';
import { createPaymentNoticeConsumer } from './app/payment-notices.js';
import { createInboundProcessor } from './app/process-inbound.js';
import { createEventOutbox } from './app/publish-events.js';
import { routeMessage, type RouteRequest } from './app/route-message.js';
import { createSendWorkers } from './app/send-workers.js';
import { routerConfigSchema } from './config.js';
import { createRouterMetrics } from './metrics.js';
import { createPushWebhook } from './push-webhook.js';
import { createMessageRouterService } from './service.js';

const config = loadConfigOrExit(routerConfigSchema);

await runService('message-router', config, async ({ logger }) => {
  const now = Date.now;
  const consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(config.REDIS_URL, { enableAutoPipelining: true, lazyConnect: true });
  const reader = new Redis(config.REDIS_URL, { lazyConnect: true });
  await Promise.all([redis.connect(), reader.connect()]);

  const kafka = createKafka({ clientId: 'message-router', brokers: config.KAFKA_BROKERS, logger });
  if (config.EVENTS_CREATE_TOPICS) await ensureBehaviourTopics(kafka, { logger });
  const producer = createEventProducer({ kafka, producer: 'message-router', logger });
  await producer.connect();

  const session = createPeerClient(definePeer(SessionService, ['getPresenceBatch', 'deliver']), {
    address: config.SESSION_ADDR,
    from: 'message-router',
  });
  const authVerify = createPeerClient(
    definePeer(AuthVerifyService, ['getAccessToken', 'invalidateAccessToken']),
    {
      address: config.AUTH_VERIFY_ADDR,
      from: 'message-router',
    },
  );

  const store = createDeliveryStore(redis, {
    maxDepth: config.QUEUE_MAX_DEPTH,
    retentionMs: config.DELIVERY_RETENTION,
    reader,
  });
  await store.init();
  const subscriptions = createSubscriptionStore(redis);
  const outbox = createEventOutbox({ store, producer, logger, intervalMs: 200, batchSize: 500 });
  const metrics = createRouterMetrics(store, now);
  const sender = createSubscribeSender(createWeChatApi({ baseUrl: config.WECHAT_API_BASE_URL }), {
    timeoutMs: config.WECHAT_TIMEOUT,
    resetMs: config.WECHAT_BREAKER_RESET,
    errorThresholdPercentage: config.WECHAT_BREAKER_THRESHOLD,
  });
  const workers = createSendWorkers(
    {
      store,
      tokens: createAccessTokens(authVerify, { now }),
      sender,
      subscriptions,
      rateLimit: createTokenBucket(redis, {
        keyPrefix: 'wxm:router:rate:',
        capacity: config.SEND_RATE_BURST,
        refillPerSecond: config.SEND_RATE_PER_SECOND,
      }),
      policy: {
        maxAttempts: config.SEND_MAX_ATTEMPTS,
        backoffBaseMs: config.SEND_BACKOFF_BASE,
        backoffMaxMs: config.SEND_BACKOFF_MAX,
        quotaDelayMs: config.SEND_QUOTA_DELAY,
        frequencyDelayMs: config.SEND_FREQUENCY_DELAY,
      },
      now,
      random: Math.random,
      logger,
      onOutcome: (outcome, errcode) => {
        metrics.send(outcome, errcode);
        outbox.kick();
      },
    },
    {
      concurrency: config.SEND_CONCURRENCY,
      consumer,
      claimIdleMs: config.QUEUE_CLAIM_IDLE,
      promoteIntervalMs: 200,
      blockMs: 1_000,
    },
  );

  const route = async (request: RouteRequest, signal?: AbortSignal) => {
    const results = await routeMessage(
      request,
      { store, session, now, logger, deliverConcurrency: config.DELIVER_CONCURRENCY },
      signal,
    );
    outbox.kick();
    return results;
  };
  const paymentNotices = createPaymentNoticeConsumer({
    kafka,
    groupId: config.PAYMENT_NOTICE_GROUP,
    maxAgeMs: config.PAYMENT_NOTICE_MAX_AGE,
    now,
    route,
    template:
      config.PAYMENT_NOTICE_TEMPLATE_ID === undefined
        ? undefined
        : { templateId: config.PAYMENT_NOTICE_TEMPLATE_ID, page: config.PAYMENT_NOTICE_PAGE },
    logger,
  });

  const inboundStore = createInboundStore(redis, {
    maxEntries: config.INBOUND_MAX_ENTRIES,
  });
  const inbound = createInboundProcessor({
    store: inboundStore,
    subscriptions,
    producer,
    logger,
    consumerName: consumer,
    claimIdleMs: config.INBOUND_CLAIM_IDLE,
    now,
  });
  const webhook = createPushWebhook({
    path: config.WECHAT_PUSH_PATH,
    apps: config.WECHAT_PUSH_APPS,
    acceptPush: createAcceptPush({ store: inboundStore, logger, now }),
    logger,
    maxBodyBytes: config.INBOUND_MAX_BODY,
    maxInFlight: config.INBOUND_CONCURRENCY,
    deadlineMs: config.INBOUND_ACCEPT_DEADLINE,
  });

  outbox.start();
  workers.start();
  inbound.start();
  await paymentNotices.start();
  logger.info({ consumer }, 'message-router workers started');

  return {
    services: [createMessageRouterService({ route, getDelivery: (id) => store.get(id) }), echoService],
    httpRoutes: [webhook],
    closers: [
      { name: 'payment notices', run: () => paymentNotices.stop() },
      { name: 'inbound', run: async () => (await inbound.stop(), await inboundStore.close()) },
      { name: 'send workers', run: () => workers.stop() },
      { name: 'event outbox', run: () => outbox.stop() },
      { name: 'wechat', run: async () => sender.close() },
      { name: 'peers', run: async () => (session.close(), authVerify.close()) },
      { name: 'kafka', run: () => producer.disconnect() },
      {
        name: 'redis',
        run: async () => void (await Promise.all([redis.quit(), reader.quit()])),
      },
    ],
  };
});
