// The notify webhook in process, in front of fake use cases: which notifications reach them, and
// how each outcome or failure is answered (WeChat Pay retries only on 5xx). Real dev key material,
// signed and encrypted as WeChat Pay does; the end-to-end path is test/payment.spec.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger } from '@wxmesh/rpc';
import { waitFor } from '@wxmesh/testing';
import { writeDevPaymentSecrets, type DevPaymentSecrets } from '../scripts/dev-keys.js';
import { post, signedNotification } from '../test/support.js';
import { loadPaymentSecrets, type PaymentSecrets } from './adapters/secrets.js';
import type { NotificationOutcome } from './app/deps.js';
import { NotDurableError } from './app/owed-events.js';
import type { Payments } from './app/payments.js';
import { createNotifyWebhook, createWorkQueue } from './notify-webhook.js';

const PATH = '/webhooks/wechatpay/notify';
let dir: string;
let dev: DevPaymentSecrets;
let secrets: PaymentSecrets;
const servers: Server[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wxmesh-notify-'));
  dev = await writeDevPaymentSecrets(dir);
  const env = dev.paymentCallback;
  secrets = await loadPaymentSecrets(
    {
      merchantKey: env.WECHATPAY_MERCHANT_KEY_FILE!,
      merchantSerial: env.WECHATPAY_MERCHANT_SERIAL_FILE!,
      apiV3Key: env.WECHATPAY_APIV3_KEY_FILE!,
      platformKeys: env.WECHATPAY_PLATFORM_KEYS_FILE!,
    },
    (err) => assert.fail(err),
  );
});

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  secrets?.close();
  await rm(dir, { recursive: true, force: true });
});

type Handler = (resource: Record<string, unknown>) => Promise<NotificationOutcome>;

/** The webhook on a local port; `handle` stands in for both use cases and sees every resource. */
async function webhook(
  handle: Handler,
  options: { concurrency?: number; queued?: number; deadlineMs?: number } = {},
) {
  const seen: Array<{ kind: string; resource: Record<string, unknown> }> = [];
  const nonces = new Map<string, string>();
  const payments: Pick<Payments, 'applyTransaction' | 'applyRefund'> = {
    applyTransaction: (tx, source) => {
      seen.push({ kind: `transaction:${source}`, resource: tx as unknown as Record<string, unknown> });
      return handle(tx as unknown as Record<string, unknown>);
    },
    applyRefund: (refund) => {
      seen.push({ kind: 'refund', resource: refund as unknown as Record<string, unknown> });
      return handle(refund as unknown as Record<string, unknown>);
    },
  };
  const route = createNotifyWebhook({
    path: PATH,
    secrets,
    store: {
      async claimNonce(nonce, fingerprint) {
        const known = nonces.get(nonce);
        if (known === undefined) nonces.set(nonce, fingerprint);
        return known === undefined || known === fingerprint;
      },
    },
    payments,
    now: Date.now,
    logger: createLogger({ name: 'notify-webhook-test', level: 'silent' }),
    deadlineMs: options.deadlineMs ?? 4_000,
    queue: createWorkQueue(options.concurrency ?? 8, options.queued ?? 8),
  });
  const server = createServer(async (req, res) => {
    if (!(await route(req, res))) res.writeHead(404).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PATH}`;
  return { url, seen };
}

const transaction = {
  out_trade_no: 'T1',
  transaction_id: '42001',
  trade_state: 'SUCCESS',
  mchid: '1900000109',
};

test('a genuine transaction notification reaches applyTransaction decrypted, and is answered 204', async () => {
  const { url, seen } = await webhook(async () => 'applied');
  const res = await post(url, signedNotification(dev, transaction));
  assert.equal(res.status, 204, res.text);
  assert.deepEqual(seen, [{ kind: 'transaction:notify', resource: transaction }]);
});

test('refunds reach applyRefund; an event type not handled is acknowledged untouched', async () => {
  const { url, seen } = await webhook(async () => 'duplicate');
  const refund = { out_trade_no: 'T1', refund_id: '503001', refund_status: 'SUCCESS' };
  assert.equal(
    (await post(url, signedNotification(dev, refund, { eventType: 'REFUND.SUCCESS' }))).status,
    204,
  );
  assert.equal((await post(url, signedNotification(dev, refund, { eventType: 'MARKETING.X' }))).status, 204);
  assert.deepEqual(seen, [{ kind: 'refund', resource: refund }]);
});

test('not durable is 500 with the reason; any other failure a plain 500: WeChat Pay retries both', async () => {
  const notDurable = await webhook(async () => {
    throw new NotDurableError('events not acknowledged by Kafka: down');
  });
  const first = await post(notDurable.url, signedNotification(dev, transaction));
  assert.equal(first.status, 500);
  assert.deepEqual(JSON.parse(first.text), {
    code: 'FAIL',
    message: 'events not acknowledged by Kafka: down',
  });
  const broken = await webhook(async () => {
    throw new Error('connection reset (internal detail)');
  });
  const second = await post(broken.url, signedNotification(dev, transaction));
  assert.equal(second.status, 500);
  assert.deepEqual(JSON.parse(second.text), { code: 'FAIL', message: 'not applied; retry' });
});

test('a tampered body or a missing header is refused with 4xx before anything is applied', async () => {
  const { url, seen } = await webhook(async () => 'applied');
  const good = signedNotification(dev, transaction);
  const tampered = await post(url, { ...good, body: good.body.replace('TRANSACTION', 'TRANSACTIOM') });
  assert.equal(tampered.status, 401);
  const headers = Object.fromEntries(
    Object.entries(good.headers).filter(([k]) => k !== 'wechatpay-timestamp'),
  );
  assert.equal((await post(url, { ...good, headers })).status, 400);
  assert.deepEqual(seen, []);
});

test('a nonce reused for other content is refused; the same message redelivered passes', async () => {
  const { url, seen } = await webhook(async () => 'applied');
  const first = signedNotification(dev, transaction, { nonce: 'nonce-1' });
  assert.equal((await post(url, first)).status, 204);
  assert.equal((await post(url, first)).status, 204, 'redelivery');
  const other = signedNotification(dev, { ...transaction, transaction_id: '42002' }, { nonce: 'nonce-1' });
  assert.equal((await post(url, other)).status, 401);
  assert.equal(seen.length, 2);
});

test('beyond the work queue a notification gets 503 at once; past the deadline 503 too', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { url, seen } = await webhook(
    async () => {
      await gate;
      return 'applied';
    },
    { concurrency: 1, queued: 0, deadlineMs: 1_500 },
  );
  const held = post(url, signedNotification(dev, transaction));
  await waitFor(() => seen.length === 1, {
    timeoutMs: 5_000,
    message: 'the first notification holds the slot',
  });
  const overflow = await post(url, signedNotification(dev, transaction));
  assert.equal(overflow.status, 503, overflow.text);
  assert.equal(seen.length, 1, 'the refused one never reached the use case');
  const timedOut = await held;
  assert.equal(timedOut.status, 503, 'not done within the deadline');
  release();
});

test('only POST to its own path is the webhook', async () => {
  const { url } = await webhook(async () => 'applied');
  assert.equal((await fetch(url)).status, 404);
  assert.equal((await post(`${url}/other`, signedNotification(dev, transaction))).status, 404);
});
