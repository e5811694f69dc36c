import { checkRedisConfig, defineConfig, domainServiceConfig, duration, integer, url } from '@wxmesh/config';
import { bearerTokenConfig } from '@wxmesh/session-tokens';
import { z } from 'zod';

const filePath = () => z.string().trim().min(1, 'expected a file path');

/** payment-callback's configuration; durations are written like `500ms`, `4s`, `2m`. */
export const paymentConfigSchema = defineConfig({
  ...domainServiceConfig,
  /** Bearer session tokens at the edge: `AUTH_VERIFY_ADDR` and the verified-token cache. */
  ...bearerTokenConfig,
  /** The merchant id (mchid) orders are placed under and notifications must name. */
  WECHATPAY_MCHID: z
    .string()
    .trim()
    .regex(/^\d{6,32}$/, 'expected the numeric merchant id'),
  /** WeChat Pay's API host; the sandbox's http URL in local runs and tests. */
  WECHATPAY_BASE_URL: url({ protocols: ['https:', 'http:'] }).default('https://api.mch.weixin.qq.com'),
  /** The notify_url sent with every order: where WeChat Pay reaches this service's webhook. */
  WECHATPAY_NOTIFY_URL: url({ protocols: ['https:', 'http:'] }),
  /** The webhook's path on the http port. */
  WECHATPAY_NOTIFY_PATH: z
    .string()
    .trim()
    .regex(/^\/[\w./-]*$/, 'expected an absolute path')
    .default('/webhooks/wechatpay/notify'),
  /** Secret files (hot-reloaded): merchant API private key (PEM) and its certificate serial. */
  WECHATPAY_MERCHANT_KEY_FILE: filePath(),
  WECHATPAY_MERCHANT_SERIAL_FILE: filePath(),
  /** Secret file: the APIv3 key (32 characters); during a rotation, the new and old key one per line. */
  WECHATPAY_APIV3_KEY_FILE: filePath(),
  /** Secret file: platform certificates and `PUB_KEY_ID_` public keys (see @wxmesh/wechat-pay). */
  WECHATPAY_PLATFORM_KEYS_FILE: filePath(),
  /** Timeout of one call to WeChat Pay. */
  WECHATPAY_TIMEOUT: duration().default(3_000),
  /** A notification is answered within this, whatever happens (WeChat Pay gives up at 5 s). */
  NOTIFY_DEADLINE: duration().default(4_000),
  /** Notifications processed at once, and waiting beyond that, before new ones get 503. */
  NOTIFY_CONCURRENCY: integer({ min: 1, max: 10_000 }).default(64),
  NOTIFY_QUEUE: integer({ min: 0, max: 100_000 }).default(1_000),
  /** An order still unpaid this long after creation is queried from WeChat Pay (reconciliation). */
  RECONCILE_AFTER: duration().default(5 * 60_000),
  /** How often each replica's sweeper runs (owed events, reconciliation). */
  SWEEP_INTERVAL: duration().default(2_000),
  /** Owed events not settled after this long are re-emitted by the sweeper. */
  EVENT_RETRY_AFTER: duration().default(10_000),
}).superRefine((config, ctx) => {
  checkRedisConfig(config, ctx);
  if (config.NOTIFY_DEADLINE >= 5_000)
    ctx.addIssue({
      code: 'custom',
      path: ['NOTIFY_DEADLINE'],
      message: 'must be under 5s (WeChat Pay waits 5s)',
    });
});

export type PaymentConfig = z.output<typeof paymentConfigSchema>;
