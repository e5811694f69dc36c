import { loadConfigOrExit } from '@wxmesh/config';
import { createRedisClient, redisDependency } from '@wxmesh/redis';
import { createEventProducer, ensureBehaviourTopics, createKafka } from '@wxmesh/events';
import { AuthVerifyService } from '@wxmesh/contracts';
import { createPeerClient, definePeer, echoService, runService } from '@wxmesh/rpc';
import { startBearerCheck } from '@wxmesh/session-tokens';
import { createPaymentStore } from './adapters/payment-store.js';
import { loadPaymentSecrets } from './adapters/secrets.js';
import { createWechatPayApi } from './adapters/wechat-pay-api.js';
import { paymentConfigSchema } from './config.js';
import { createNotifyWebhook, createWorkQueue } from './notify-webhook.js';
import { createPayments } from './payments.js';
import { createPaymentService } from './service.js';

const config = loadConfigOrExit(paymentConfigSchema);

await runService('payment-callback', config, async ({ logger }) => {
  const now = Date.now;
  const secrets = await loadPaymentSecrets(
    {
      merchantKey: config.WECHATPAY_MERCHANT_KEY_FILE,
      merchantSerial: config.WECHATPAY_MERCHANT_SERIAL_FILE,
      apiV3Key: config.WECHATPAY_APIV3_KEY_FILE,
      platformKeys: config.WECHATPAY_PLATFORM_KEYS_FILE,
    },
    (err) => logger.error({ err: err.message }, 'secret file reload refused; keeping the previous value'),
  );
  const redisOptions = { url: config.REDIS_URL, logger, timeoutMs: config.DEPENDENCY_TIMEOUT_MS };
  const redis = createRedisClient({ ...redisOptions, name: 'payment-callback', autoPipelining: true });
  await redis.connect();
  const kafka = createKafka({ clientId: 'payment-callback', brokers: config.KAFKA_BROKERS, logger });
  if (config.EVENTS_CREATE_TOPICS) await ensureBehaviourTopics(kafka, { logger });
  // A send gives up well inside the notify deadline; WeChat Pay's retry (or the sweeper) tries again.
  const producer = createEventProducer({
    kafka,
    producer: 'payment-callback',
    logger,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  await producer.connect();

  const store = createPaymentStore(redis);
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
    crashPoint: config.PAYMENT_CRASH_POINT,
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

  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    payments
      .sweep()
      .catch((err: unknown) => logger.warn({ err }, 'payment sweep failed'))
      .finally(() => (sweeping = false));
  }, config.SWEEP_INTERVAL);
  sweeper.unref();

  // Users who call over the mini-program's own HTTPS domain come with a session token from Login.
  const bearer =
    config.AUTH_VERIFY_ADDR === undefined ? undefined : await startBearerCheckAt(config.AUTH_VERIFY_ADDR);

  if (config.PAYMENT_CRASH_POINT)
    logger.warn({ point: config.PAYMENT_CRASH_POINT }, 'TEST-ONLY crash point armed');
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
      { name: 'sweeper', run: async () => clearInterval(sweeper) },
      { name: 'wechatpay', run: async () => api.close() },
      { name: 'kafka', run: () => producer.disconnect() },
      { name: 'redis', run: () => redis.quit() },
      { name: 'secrets', run: async () => secrets.close() },
    ],
  };

  /**
   * Bearer tokens, verified by auth-verify's VerifySession behind this process's own warm cache
   * (kept correct by its private SessionEnded feed), so a repeat token costs no call.
   * `VERIFY_CACHE_TTL=0`: every Bearer call asks auth-verify.
   */
  async function startBearerCheckAt(address: string) {
    return startBearerCheck({
      authVerify: createPeerClient(definePeer(AuthVerifyService, ['verifySession']), {
        address,
        from: 'payment-callback',
        defaultDeadlineMs: config.PEER_DEADLINE_MS,
      }),
      service: 'payment-callback',
      kafka,
      logger,
      now: now,
      config,
    });
  }
});
