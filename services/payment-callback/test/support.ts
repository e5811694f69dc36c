import { randomBytes } from 'node:crypto';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { PaymentService } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';
import { collectTopic, startServiceProcess, type ServiceProcess } from '@wxmesh/testing';
import { encryptResource, responseSignatureMessage, rsaSign } from '@wxmesh/wechat-pay';
import type { DevPaymentSecrets } from '../scripts/dev-keys.js';

export const RUN = randomBytes(4).toString('hex');
export const APPID = 'wx0123456789abcdef';
export const openidOf = (n: number | string) => `o_${RUN}_${n}`;
export const orderNo = (n: number | string) => `T${RUN}${n}`;

export type PaymentClient = Client<typeof PaymentService>;

export interface PaymentProcess {
  process: ServiceProcess;
  client: PaymentClient;
  notifyUrl: string;
}

export async function startSandbox(secrets: DevPaymentSecrets, env: Record<string, string> = {}) {
  return startServiceProcess('wechat-sandbox', {
    env: { ...secrets.sandbox, SANDBOX_PAY_NOTIFY_TIME_SCALE: '0.02', LOG_LEVEL: 'info', ...env },
    timeoutMs: 30_000,
  });
}

export async function startPayment(
  infra: { redisUrl: string; kafkaBrokers: string },
  secrets: DevPaymentSecrets,
  sandboxUrl: string,
  httpPort: number,
  env: Record<string, string> = {},
): Promise<PaymentProcess> {
  const notifyUrl = `http://127.0.0.1:${httpPort}/webhooks/wechatpay/notify`;
  const process = await startServiceProcess('payment-callback', {
    env: {
      ...secrets.paymentCallback,
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.kafkaBrokers,
      WECHATPAY_BASE_URL: sandboxUrl,
      WECHATPAY_NOTIFY_URL: notifyUrl,
      HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: '2000',
      ...env,
    },
    timeoutMs: 30_000,
  });
  const transport = createGrpcTransport({ baseUrl: `http://${process.grpcAddress}` });
  return { process, client: createClient(PaymentService, transport), notifyUrl };
}

/** A notification signed and encrypted by hand with the dev platform keys, like WeChat Pay's. */
export function signedNotification(
  secrets: DevPaymentSecrets,
  resource: Record<string, unknown>,
  options: {
    eventType?: string;
    timestamp?: number;
    nonce?: string;
    signer?: 'certificate' | 'public-key';
  } = {},
) {
  const encrypted = encryptResource(secrets.apiV3Key, JSON.stringify(resource), {
    nonce: randomBytes(6).toString('hex'),
    associatedData: 'transaction',
  });
  const body = JSON.stringify({
    id: `EV-${randomBytes(8).toString('hex')}`,
    create_time: '2024-01-01T10:00:00+08:00',
    resource_type: 'encrypt-resource',
    event_type: options.eventType ?? 'TRANSACTION.SUCCESS',
    summary: '支付成功',
    resource: encrypted,
  });
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? randomBytes(16).toString('hex');
  const signer =
    options.signer === 'certificate'
      ? { id: secrets.platformCertificate.serial, key: secrets.platformCertificate.privateKey }
      : { id: secrets.platformPublicKey.id, key: secrets.platformPublicKey.privateKey };
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'wechatpay-serial': signer.id,
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-signature': rsaSign(signer.key, responseSignatureMessage(timestamp, nonce, body)),
    } as Record<string, string>,
  };
}

export async function post(url: string, n: { body: string; headers: Record<string, string> }) {
  const res = await fetch(url, { method: 'POST', headers: n.headers, body: n.body });
  return { status: res.status, text: await res.text() };
}

/** Collects behaviour events for this run's users from the topic, from the beginning. */
export async function collectEvents(brokers: string) {
  const collector = await collectTopic(brokers, BEHAVIOUR_TOPIC, {
    keyPrefix: `o_${RUN}_`,
    keep: decodeBehaviourEvent,
  });
  return { events: collector.records, stop: collector.stop };
}
