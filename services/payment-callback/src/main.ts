import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { AuthVerifyService } from '@wxmesh/contracts';
import { loadConfigOrExit, redisConnection } from '@wxmesh/config';
import { connectEventProducer, createKafka } from '@wxmesh/events';
import { createRedisClient, redisDependency } from '@wxmesh/redis';
import { createPeerClient, definePeer, echoService, runService, type Logger } from '@wxmesh/rpc';
import { startBearerCheck } from '@wxmesh/session-tokens';
import type { Kafka } from 'kafkajs';
import { createPaymentStore, type PaymentStore } from './adapters/payment-store.js';
import { loadPaymentSecrets } from './adapters/secrets.js';
import { createWechatPayApi } from './adapters/wechat-pay-api.js';
import { createPaymentMetrics, type NotificationOutcome } from './app/deps.js';
import { createPayments } from './app/payments.js';
import { createSingleFlight } from './app/single-flight.js';
import { startSweeper } from './app/sweep.js';
import { paymentConfigSchema, type PaymentConfig } from './config.js';
import { createNotifyWebhook, createWorkQueue } from './notify-webhook.js';
import { createPaymentService } from './service.js';

/**
 * Replacements for adapters, each given the production one: a seam for process-level tests that
 * need an adapter to misbehave (crash-recovery tests wrap the store). Production passes none.
 */
export interface AdapterOverrides {
  store?: (store: PaymentStore) => PaymentStore;
}

/** The secret files, hot-reloaded; a refused reload is logged and the previous value kept. */
function loadSecrets(config: PaymentConfig, logger: Logger) {
  return loadPaymentSecrets(
    {
      merchantKey: config.WECHATPAY_MERCHANT_KEY_FILE,
      merchantSerial: config.WECHATPAY_MERCHANT_SERIAL_FILE,
      apiV3Key: config.WECHATPAY_APIV3_KEY_FILE,
      platformKeys: config.WECHATPAY_PLATFORM_KEYS_FILE,
    },
    (err) => logger.error({ err: err.message }, 'secret file reload refused; keeping the previous value'),
  );
}

/** Redis and the Kafka producer, connected. */
async function connectInfrastructure(config: PaymentConfig, logger: Logger) {
  const redisOptions = {
    connection: redisConnection(config),
    logger,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
  };
  const redis = createRedisClient({ ...redisOptions, name: 'payment-callback', autoPipelining: true });
  await redis.connect();
  const kafka = createKafka({ clientId: 'payment-callback', config, logger });
  // A send gives up well inside the notify deadline; WeChat Pay's retry (or the sweeper) tries again.
  const producer = await connectEventProducer({
    kafka,
    producer: 'payment-callback',
    logger,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
    createTopics: config.EVENTS_CREATE_TOPICS,
  });
  return { redis, kafka, producer };
}

/**
 * Bearer tokens, verified by auth-verify's VerifySession behind this process's own warm cache
 * (kept correct by its private SessionEnded feed), so a repeat token costs no call. Without
 * AUTH_VERIFY_ADDR users are known only by the cloud gateway's identity.
 */
async function startBearerCheckIfConfigured(config: PaymentConfig, kafka: Kafka, logger: Logger) {
  if (config.AUTH_VERIFY_ADDR === undefined) return undefined;
  return startBearerCheck({
    authVerify: createPeerClient(definePeer(AuthVerifyService, ['verifySession']), {
      address: config.AUTH_VERIFY_ADDR,
      from: 'payment-callback',
      defaultDeadlineMs: config.PEER_DEADLINE_MS,
    }),
    service: 'payment-callback',
    kafka,
    logger,
    now: Date.now,
    config,
  });
}

/**
 * payment-callback's composition root: config → secrets → Redis, Kafka, WeChat Pay → use cases →
 * gRPC/Connect service, notify webhook, sweeper → shutdown. `overrides` is for tests only.
 */
export async function startPaymentCallback(config: PaymentConfig, overrides: AdapterOverrides = {}) {
  return runService('payment-callback', config, async ({ logger }) => {
    const now = Date.now;
    const secrets = await loadSecrets(config, logger);
    const { redis, kafka, producer } = await connectInfrastructure(config, logger);
    const baseStore = createPaymentStore(redis);
    const store = overrides.store?.(baseStore) ?? baseStore;
    const api = createWechatPayApi({
      baseUrl: config.WECHATPAY_BASE_URL,
      mchid: config.WECHATPAY_MCHID,
      secrets,
      timeoutMs: config.WECHATPAY_TIMEOUT,
      now,
    });
    const payments = createPayments({
      store,
      api,
      producer,
      mchid: config.WECHATPAY_MCHID,
      notifyUrl: config.WECHATPAY_NOTIFY_URL,
      now,
      logger,
      reconcileAfterMs: config.RECONCILE_AFTER,
      eventRetryMs: config.EVENT_RETRY_AFTER,
      metrics: createPaymentMetrics(),
      inflight: createSingleFlight<NotificationOutcome>(),
    });
    const webhook = createNotifyWebhook({
      path: config.WECHATPAY_NOTIFY_PATH,
      secrets,
      store,
      payments,
      now,
      logger,
      deadlineMs: config.NOTIFY_DEADLINE,
      queue: createWorkQueue(config.NOTIFY_CONCURRENCY, config.NOTIFY_QUEUE),
    });
    const stopSweeper = startSweeper(() => payments.sweep(), config.SWEEP_INTERVAL, logger);
    const bearer = await startBearerCheckIfConfigured(config, kafka, logger);
    return {
      services: [
        createPaymentService({ payments, signer: { merchantKey: secrets.merchantKey, now } }),
        echoService,
      ],
      httpRoutes: [webhook],
      dependencies: [redisDependency(redis)],
      verifySessionToken: bearer?.verifySessionToken,
      closers: [
        { name: 'session tokens', run: async () => bearer?.stop() },
        { name: 'sweeper', run: async () => stopSweeper() },
        { name: 'wechatpay', run: async () => api.close() },
        { name: 'kafka', run: () => producer.disconnect() },
        { name: 'redis', run: () => redis.quit() },
        { name: 'secrets', run: async () => secrets.close() },
      ],
    };
  });
}

// The process's entry (`node src/main.ts`, or its bundle); a test entry imports this file instead.
const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href)
  await startPaymentCallback(loadConfigOrExit(paymentConfigSchema));
