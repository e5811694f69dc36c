import {
  checkRedisConfig,
  defineConfig,
  domainServiceConfig,
  duration,
  hostPort,
  integer,
  url,
} from '@wxmesh/config';
import { z } from 'zod';
import { inboundConfig } from './inbound-config.js';

/** message-router's configuration; durations are written like `500ms`, `15s`, `2m`. */
export const routerConfigSchema = defineConfig({
  ...domainServiceConfig,
  ...inboundConfig,
  /** session's grpc address (`host:port`): presence and in-app delivery. */
  SESSION_ADDR: hostPort(),
  /** auth-verify's grpc address (`host:port`): the central access_token. */
  AUTH_VERIFY_ADDR: hostPort(),
  /** WeChat's API host; the sandbox's URL in local runs and tests. */
  WECHAT_API_BASE_URL: url({ protocols: ['http:', 'https:'] }).default('https://api.weixin.qq.com'),
  /** Per send: WeChat must answer within this. */
  WECHAT_TIMEOUT: duration().default(5_000),
  /** How long the send endpoint's breaker stays open before it lets a probe through. */
  WECHAT_BREAKER_RESET: duration().default(10_000),
  /** Failure percentage (transport errors, 5xx, timeouts) over 10 s at which the send API's breaker opens. */
  WECHAT_BREAKER_THRESHOLD: integer({ min: 1, max: 100 }).default(50),
  /** Jobs one process sends at once. */
  SEND_CONCURRENCY: integer({ min: 1, max: 1_000 }).default(32),
  /**
   * Subscribe messages per second per app, shared by every replica (a Redis token bucket). Keep it
   * below WeChat's own limit for the app, so a burst drains at this rate instead of earning 45009.
   */
  SEND_RATE_PER_SECOND: z.coerce.number().positive().max(100_000).default(200),
  /** The bucket's size: how many sends may go at once after a quiet spell. */
  SEND_RATE_BURST: integer({ min: 1, max: 100_000 }).default(200),
  /** Attempts before a job that keeps failing transiently (network, 5xx, timeouts) is dead-lettered. */
  SEND_MAX_ATTEMPTS: integer({ min: 1, max: 100 }).default(8),
  /** First retry delay after a transient failure; doubled per attempt with full jitter. */
  SEND_BACKOFF_BASE: duration().default(1_000),
  /** The longest retry delay. */
  SEND_BACKOFF_MAX: duration().default(5 * 60_000),
  /** Retry delay after 45009 (the app's daily quota is used up). */
  SEND_QUOTA_DELAY: duration().default(10 * 60_000),
  /** Retry delay after 45011 (too frequent). */
  SEND_FREQUENCY_DELAY: duration().default(2_000),
  /** Jobs the queue holds (waiting, in flight and delayed) before new ones are refused with ResourceExhausted. */
  QUEUE_MAX_DEPTH: integer({ min: 1, max: 10_000_000 }).default(200_000),
  /** A job held this long by a consumer that stopped answering is taken over by another. */
  QUEUE_CLAIM_IDLE: duration().default(30_000),
  /** How long finished deliveries (and their history) stay readable by GetDelivery. */
  DELIVERY_RETENTION: duration().default(7 * 24 * 3600_000),
  /** session.Deliver calls in flight at once for one RouteMessage. */
  DELIVER_CONCURRENCY: integer({ min: 1, max: 1_000 }).default(32),
  /** The subscribe-message template of the "payment received" notice; unset: payment notices go in-app only. */
  PAYMENT_NOTICE_TEMPLATE_ID: z
    .string()
    .trim()
    .regex(/^[0-9A-Za-z_-]{1,128}$/, 'expected a WeChat template id')
    .optional(),
  /** The page that notice opens; `{out_trade_no}` is replaced by the order number. */
  PAYMENT_NOTICE_PAGE: z.string().trim().max(1024).default('pages/order/detail?out_trade_no={out_trade_no}'),
  /** Payments older than this when consumed get no notice (a new consumer group reads all history). */
  PAYMENT_NOTICE_MAX_AGE: duration().default(24 * 3600_000),
  /** The Kafka consumer group of the payment notices (one per deployment). */
  PAYMENT_NOTICE_GROUP: z.string().trim().min(1).default('message-router.payment-notices'),
}).superRefine((config, ctx) => {
  checkRedisConfig(config, ctx);
  if (config.SEND_BACKOFF_BASE > config.SEND_BACKOFF_MAX) {
    ctx.addIssue({
      code: 'custom',
      path: ['SEND_BACKOFF_BASE'],
      message: 'must not exceed SEND_BACKOFF_MAX',
    });
  }
  if (config.WECHAT_TIMEOUT * 2 + config.WECHAT_BREAKER_RESET >= config.QUEUE_CLAIM_IDLE) {
    ctx.addIssue({
      code: 'custom',
      path: ['QUEUE_CLAIM_IDLE'],
      message:
        'must exceed twice WECHAT_TIMEOUT plus WECHAT_BREAKER_RESET, or jobs still being sent would be taken over',
    });
  }
});

export type RouterConfig = z.output<typeof routerConfigSchema>;
