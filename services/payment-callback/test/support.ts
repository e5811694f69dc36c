import { X509Certificate, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { PaymentService } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, decodeBehaviourEvent } from '@wxmesh/events';
import type { RequestPaymentParams } from '@wxmesh/contracts';
import {
  collectTopic,
  type HeaderInterceptor,
  peerClient,
  type ServiceProcess,
  startServiceProcess,
} from '@wxmesh/testing';
import { encryptResource, responseSignatureMessage, rsaSign } from '@wxmesh/wechat-pay';
import type { DevPaymentSecrets } from '../scripts/dev-keys.js';
import type { CrashPoint } from './crash-entry.js';

export const RUN = randomBytes(4).toString('hex');
export const APPID = 'wx0123456789abcdef';
export const openidOf = (n: number | string) => `o_${RUN}_${n}`;
export const orderNo = (n: number | string) => `T${RUN}${n}`;

export type PaymentClient = Client<typeof PaymentService>;

export interface PaymentProcess {
  process: ServiceProcess;
  /** The business backend: mesh peer `business-backend` on the grpc port (places and reads any order). */
  client: PaymentClient;
  notifyUrl: string;
  /** A client on the grpc port calling as mesh peer `name`. */
  peer(name: string): PaymentClient;
  /**
   * A client on the http port (Connect JSON over HTTP/1.1, as a mini-program reaches it), calling
   * as the interceptors say: `asGatewayUser(...)` (the service must run with
   * EDGE_BEHIND_GATEWAY=true), `withBearer(...)`, or none for no identity at all.
   */
  edge(...callers: HeaderInterceptor[]): PaymentClient;
}

export async function startSandbox(secrets: DevPaymentSecrets, env: Record<string, string> = {}) {
  return startServiceProcess('wechat-sandbox', {
    env: { ...secrets.sandbox, SANDBOX_PAY_NOTIFY_TIME_SCALE: '0.02', LOG_LEVEL: 'info', ...env },
    timeoutMs: 120_000,
  });
}

/** The entry test/crash-entry.ts instead of src/main.ts, killing itself at `point`. */
function crashEntry(point: CrashPoint) {
  return { entry: 'test/crash-entry.ts', env: { PAYMENT_TEST_CRASH_AT: point } };
}

/** payment-callback as its own process; with `crashAt`, one that SIGKILLs itself there (crash tests). */
export async function startPayment(
  infra: { redisUrl: string; kafkaBrokers: string },
  secrets: DevPaymentSecrets,
  sandboxUrl: string,
  httpPort: number,
  env: Record<string, string> = {},
  options: { crashAt?: CrashPoint } = {},
): Promise<PaymentProcess> {
  const notifyUrl = `http://127.0.0.1:${httpPort}/webhooks/wechatpay/notify`;
  const crashing = options.crashAt === undefined ? undefined : crashEntry(options.crashAt);
  const process = await startServiceProcess('payment-callback', {
    entry: crashing?.entry,
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
      ...crashing?.env,
    },
    timeoutMs: 120_000,
  });
  const peer = (name: string) => peerClient(PaymentService, process.grpcAddress, name);
  const edge = (...callers: HeaderInterceptor[]) =>
    createClient(
      PaymentService,
      createConnectTransport({ baseUrl: process.httpUrl, httpVersion: '1.1', interceptors: callers }),
    );
  return { process, client: peer('business-backend'), notifyUrl, peer, edge };
}

/**
 * True when the merchant certificate the sandbox trusts verifies paySign over the documented
 * layout (`appId\ntimeStamp\nnonceStr\npackage\n`) with `appid`: what wx.requestPayment checks.
 */
export function paySignValid(secrets: DevPaymentSecrets, appid: string, p: RequestPaymentParams): boolean {
  const cert = new X509Certificate(readFileSync(secrets.sandbox.SANDBOX_PAY_MERCHANT_CERT_FILE!, 'utf8'));
  return verify(
    'sha256',
    Buffer.from(`${appid}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`),
    cert.publicKey,
    Buffer.from(p.paySign, 'base64'),
  );
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
