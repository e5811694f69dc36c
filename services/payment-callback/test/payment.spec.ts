// Acceptance of payment-callback against the WeChat Pay sandbox: real payment-callback and
// wechat-sandbox processes, real Redis and Kafka, fresh dev keys (nothing secret in the repo).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { PaymentState } from '@wxmesh/contracts';
import {
  freePort,
  metricSum,
  startInfra,
  startKafka,
  waitFor,
  type Infra,
  type KafkaBroker,
  type ServiceProcess,
} from '@wxmesh/testing';
import { writeDevPaymentSecrets, type DevPaymentSecrets } from '../scripts/dev-keys.js';
import type { CrashPoint } from './crash-entry.js';
import {
  APPID,
  collectEvents,
  openidOf,
  orderNo,
  paySignValid,
  post,
  signedNotification,
  startPayment,
  startSandbox,
  type PaymentProcess,
} from './support.js';

let infra: Infra<{ redis: true; kafka: true }>;
let secrets: DevPaymentSecrets;
let dir: string;
let sandbox: ServiceProcess;
let payment: PaymentProcess;
let httpPort: number;
let events: Awaited<ReturnType<typeof collectEvents>>;

const FAST = { RECONCILE_AFTER: '1500ms', SWEEP_INTERVAL: '300ms', EVENT_RETRY_AFTER: '1s' };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wxmesh-pay-'));
  [infra, secrets] = await Promise.all([
    startInfra({ redis: true, kafka: true }),
    writeDevPaymentSecrets(dir),
  ]);
  sandbox = await startSandbox(secrets);
  httpPort = await freePort();
  payment = await startPayment(infra, secrets, sandbox.httpUrl, httpPort, FAST);
  events = await collectEvents(infra.kafkaBrokers);
});

after(async () => {
  for (const p of [payment?.process, sandbox]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
  await events?.stop();
  await infra?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function restartPayment(env: Record<string, string> = {}, options: { crashAt?: CrashPoint } = {}) {
  if (payment.process.child.exitCode === null && payment.process.child.signalCode === null) {
    payment.process.child.kill('SIGTERM');
    await payment.process.exited;
  }
  payment = await startPayment(infra, secrets, sandbox.httpUrl, httpPort, { ...FAST, ...env }, options);
}

async function order(n: string, amount = 100) {
  return payment.client.createJsapiOrder({
    appid: APPID,
    openid: openidOf(n),
    outTradeNo: orderNo(n),
    amountTotal: amount,
    description: `test order ${n}`,
  });
}

const sandboxOrder = async (otn: string) =>
  (await (await fetch(`${sandbox.httpUrl}/sandbox/pay/orders/${otn}`)).json()) as {
    transaction_id?: string;
    notifications: Array<{
      attempts: number[];
      delivered: boolean;
      last?: { headers: Record<string, string>; body: string };
    }>;
  };
const pay = (otn: string, body: Record<string, unknown> = {}) =>
  fetch(`${sandbox.httpUrl}/sandbox/pay/orders/${otn}/pay`, { method: 'POST', body: JSON.stringify(body) });
const state = async (otn: string) => (await payment.client.getPayment({ outTradeNo: otn })).payment!;
const eventsOf = (otn: string, kind: string) =>
  events.events.filter((e) => e.aggregateId === `payment:${otn}` && e.payload.case === kind);

test('order → pay → notification: PAID once, PaymentSucceeded on Kafka, signed wx.requestPayment', async () => {
  const created = await order('a');
  assert.equal(created.payment!.state, PaymentState.CREATED);
  const p = created.requestPayment!;
  assert.equal(p.package, `prepay_id=${created.prepayId}`);
  assert.equal(p.signType, 'RSA');
  assert.ok(paySignValid(secrets, APPID, p), 'paySign verifies with the merchant certificate');

  const again = await order('a');
  assert.equal(again.prepayId, created.prepayId, 'same content: idempotent');
  await assert.rejects(order('a', 101), (err: ConnectError) => err.code === Code.AlreadyExists);

  await pay(orderNo('a'));
  const paid = await waitFor(
    async () => {
      const s = await state(orderNo('a'));
      return s.state === PaymentState.PAID ? s : undefined;
    },
    { timeoutMs: 10_000, message: 'order a paid' },
  );
  assert.equal(paid.transactionId, (await sandboxOrder(orderNo('a'))).transaction_id);
  assert.ok(paid.paidAt);
  await waitFor(
    () =>
      eventsOf(orderNo('a'), 'paymentSucceeded').length > 0 &&
      eventsOf(orderNo('a'), 'orderCreated').length > 0,
    { timeoutMs: 10_000, message: 'events on Kafka' },
  );
  const delivered = (await sandboxOrder(orderNo('a'))).notifications[0]!;
  assert.equal(delivered.delivered, true);
  assert.deepEqual(delivered.attempts, [204]);
});

test('the same signed notification 50× concurrently + 15× in sequence: all 204, one state change, one event id', async () => {
  await order('dup');
  await pay(orderNo('dup'), { notify: true });
  await waitFor(async () => (await sandboxOrder(orderNo('dup'))).notifications[0]?.delivered, {
    timeoutMs: 10_000,
    message: 'first delivery',
  });
  const { last } = (await sandboxOrder(orderNo('dup'))).notifications[0]!;
  const replay = { body: last!.body, headers: last!.headers };
  const before = await state(orderNo('dup'));
  const concurrent = await Promise.all(Array.from({ length: 50 }, () => post(payment.notifyUrl, replay)));
  const sequential = [];
  for (let i = 0; i < 15; i++) sequential.push(await post(payment.notifyUrl, replay));
  for (const r of [...concurrent, ...sequential]) assert.equal(r.status, 204, r.text);
  const afterwards = await state(orderNo('dup'));
  assert.deepEqual(afterwards.updatedAt, before.updatedAt, 'no further state change');
  assert.equal(afterwards.state, PaymentState.PAID);
  await waitFor(() => eventsOf(orderNo('dup'), 'paymentSucceeded').length > 0, {
    timeoutMs: 10_000,
    message: 'event',
  });
  assert.equal(new Set(eventsOf(orderNo('dup'), 'paymentSucceeded').map((e) => e.eventId)).size, 1);
});

test('rejected with 4xx and no effect: flipped byte, re-serialised JSON, unknown serial, SIGNTEST, missing header, ±301 s, reused nonce; 299 s accepted', async () => {
  const created = await order('rej');
  const otn = orderNo('rej');
  const resource = {
    appid: APPID,
    mchid: secrets.mchid,
    out_trade_no: otn,
    transaction_id: '4200000000000000000000000001',
    trade_state: 'SUCCESS',
    success_time: '2024-01-01T10:00:00+08:00',
    payer: { openid: openidOf('rej') },
    amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
  };
  const now = Math.floor(Date.now() / 1000);
  const good = signedNotification(secrets, resource);
  const flipped = {
    ...good,
    body: good.body.replace('"event_type":"TRANSACTION.SUCCESS"', '"event_type":"TRANSACTION.SUCCESt"'),
  };
  const reserialised = { ...good, body: JSON.stringify(JSON.parse(good.body), null, 2) };
  const unknownSerial = {
    ...good,
    headers: { ...good.headers, 'wechatpay-serial': 'PUB_KEY_ID_0199999999999999999999999999999999' },
  };
  const probe = {
    ...good,
    headers: {
      ...good.headers,
      'wechatpay-signature': `WECHATPAY/SIGNTEST/${good.headers['wechatpay-signature']}`,
    },
  };
  const noNonce = {
    ...good,
    headers: Object.fromEntries(Object.entries(good.headers).filter(([k]) => k !== 'wechatpay-nonce')),
  };
  const early = signedNotification(secrets, resource, { timestamp: now - 301 });
  // Signed when it is sent, rounded away from the window's edge: the posts before it take time on
  // a busy machine, which would bring a timestamp made up front back inside the window.
  const late = () => signedNotification(secrets, resource, { timestamp: Math.ceil(Date.now() / 1000) + 301 });
  for (const [name, n] of Object.entries({
    flipped,
    reserialised,
    unknownSerial,
    probe,
    noNonce,
    early,
    late,
  })) {
    const r = await post(payment.notifyUrl, typeof n === 'function' ? n() : n);
    assert.ok(r.status >= 400 && r.status < 500, `${name}: ${r.status}`);
    assert.equal(JSON.parse(r.text).code, 'FAIL');
  }
  assert.equal((await state(otn)).state, PaymentState.CREATED, 'nothing applied');
  assert.equal(created.payment!.state, PaymentState.CREATED);

  const at299 = signedNotification(secrets, resource, {
    timestamp: Math.ceil(Date.now() / 1000) - 299,
    signer: 'certificate',
    nonce: `nonce-${otn}`,
  });
  assert.equal((await post(payment.notifyUrl, at299)).status, 204);
  assert.equal((await state(otn)).state, PaymentState.PAID);

  // The same nonce on another (genuinely signed) notification inside the window: refused.
  await order('rej2');
  const other = signedNotification(
    secrets,
    {
      ...resource,
      out_trade_no: orderNo('rej2'),
      transaction_id: '4200000000000000000000000002',
      payer: { openid: openidOf('rej2') },
    },
    { nonce: `nonce-${otn}` },
  );
  const reused = await post(payment.notifyUrl, other);
  assert.ok(reused.status >= 400 && reused.status < 500, `reused nonce: ${reused.status}`);
  assert.equal((await state(orderNo('rej2'))).state, PaymentState.CREATED);
});

test('a notification that disagrees with the order is an anomaly: recorded, evented, not applied', async () => {
  await order('anom');
  await pay(orderNo('anom'), { amount_total: 1 });
  await waitFor(() => eventsOf(orderNo('anom'), 'paymentAnomalyDetected').length > 0, {
    timeoutMs: 10_000,
    message: 'anomaly event',
  });
  const anomaly = eventsOf(orderNo('anom'), 'paymentAnomalyDetected')[0]!;
  assert.deepEqual(
    anomaly.payload.value && 'mismatchedFields' in anomaly.payload.value
      ? anomaly.payload.value.mismatchedFields
      : [],
    ['amount_total'],
  );
  assert.equal((await state(orderNo('anom'))).state, PaymentState.CREATED);
  const metrics = await (await fetch(`${payment.process.httpUrl}/metrics`)).text();
  assert.match(metrics, /wxmesh_payment_anomalies_total\{field="amount_total"\} [1-9]/);
});

/** A paid transaction for order `n` as WeChat Pay would notify it, `change` applied. */
const transactionOf = (n: string, transactionId: string, change: Record<string, unknown> = {}) => ({
  appid: APPID,
  mchid: secrets.mchid,
  out_trade_no: orderNo(n),
  transaction_id: transactionId,
  trade_state: 'SUCCESS',
  success_time: '2024-01-01T10:00:00+08:00',
  payer: { openid: openidOf(n) },
  amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
  ...change,
});
const counted = (name: string, labels: Record<string, string>) =>
  metricSum(payment.process.httpUrl, name, labels);

test('wxmesh_payment_anomalies_total counts every distinct mismatch: three counted, a redelivered one not', async () => {
  await order('anom3');
  const before = await counted('wxmesh_payment_anomalies_total', { field: 'amount_total' });
  const mismatches = [1, 2, 3].map((total) =>
    signedNotification(
      secrets,
      transactionOf('anom3', '4200000000000000000000000031', {
        amount: { total, payer_total: total, currency: 'CNY', payer_currency: 'CNY' },
      }),
    ),
  );
  for (const n of [...mismatches, mismatches[0]!])
    assert.equal((await post(payment.notifyUrl, n)).status, 204);
  assert.equal(
    (await counted('wxmesh_payment_anomalies_total', { field: 'amount_total' })) - before,
    3,
    'three mismatches, each counted once',
  );
  assert.equal((await state(orderNo('anom3'))).state, PaymentState.CREATED);
});

test('wxmesh_payment_notifications_total{outcome="applied"} counts one state change once, however many copies', async () => {
  await order('conc');
  const copies = 20;
  const outcome = (o: string) => counted('wxmesh_payment_notifications_total', { outcome: o });
  const [applied, duplicate] = [await outcome('applied'), await outcome('duplicate')];
  const n = signedNotification(secrets, transactionOf('conc', '4200000000000000000000000041'));
  const answers = await Promise.all(Array.from({ length: copies }, () => post(payment.notifyUrl, n)));
  for (const r of answers) assert.equal(r.status, 204, r.text);
  assert.equal((await state(orderNo('conc'))).state, PaymentState.PAID);
  assert.equal((await outcome('applied')) - applied, 1, 'one state change: applied once');
  assert.equal((await outcome('duplicate')) - duplicate, copies - 1, 'every other copy a duplicate');
});

test('refund notification: REFUNDED with refunded_total, RefundSucceeded on Kafka', async () => {
  await order('ref');
  await pay(orderNo('ref'));
  await waitFor(async () => (await state(orderNo('ref'))).state === PaymentState.PAID, {
    timeoutMs: 10_000,
    message: 'paid',
  });
  await fetch(`${sandbox.httpUrl}/sandbox/pay/orders/${orderNo('ref')}/refund`, {
    method: 'POST',
    body: JSON.stringify({ amount: 40 }),
  });
  const s = await waitFor(
    async () => {
      const p = await state(orderNo('ref'));
      return p.state === PaymentState.REFUNDED ? p : undefined;
    },
    { timeoutMs: 10_000, message: 'refunded' },
  );
  assert.equal(s.refundedTotal, 40);
  await waitFor(() => eventsOf(orderNo('ref'), 'refundSucceeded').length > 0, {
    timeoutMs: 10_000,
    message: 'refund event',
  });
});

test('reconciliation: paid at WeChat Pay but never notified → applied from the order query', async () => {
  await order('rec');
  await pay(orderNo('rec'), { notify: false });
  const s = await waitFor(
    async () => {
      const p = await state(orderNo('rec'));
      return p.state === PaymentState.PAID ? p : undefined;
    },
    { timeoutMs: 15_000, message: 'reconciled' },
  );
  assert.equal(s.transactionId, (await sandboxOrder(orderNo('rec'))).transaction_id);
  await waitFor(() => eventsOf(orderNo('rec'), 'paymentSucceeded').length > 0, {
    timeoutMs: 10_000,
    message: 'event',
  });
  assert.equal((await sandboxOrder(orderNo('rec'))).notifications.length, 0);
});

for (const point of ['after-redis', 'after-kafka'] as const) {
  test(`crash ${point}: SIGKILL mid-notification, WeChat's retry completes it exactly once`, async () => {
    const n = `crash${point.replace(/\W/g, '')}`;
    await order(n);
    await restartPayment({}, { crashAt: point });
    await pay(orderNo(n));
    assert.equal(await payment.process.exited, 'SIGKILL');
    await restartPayment();
    const s = await waitFor(
      async () => {
        const p = await state(orderNo(n));
        const sb = await sandboxOrder(orderNo(n));
        return p.state === PaymentState.PAID && sb.notifications[0]?.delivered ? p : undefined;
      },
      { timeoutMs: 30_000, message: `${point}: delivered after restart` },
    );
    assert.ok(s.transactionId);
    await waitFor(() => eventsOf(orderNo(n), 'paymentSucceeded').length > 0, {
      timeoutMs: 10_000,
      message: 'event',
    });
    assert.equal(new Set(eventsOf(orderNo(n), 'paymentSucceeded').map((e) => e.eventId)).size, 1);
    const attempts = (await sandboxOrder(orderNo(n))).notifications[0]!.attempts;
    assert.equal(attempts.at(-1), 204);
    assert.ok(attempts.length >= 2, `retried: ${attempts}`);
  });
}

test('Kafka down: notifications get 5xx within 5 s, none lost; after Kafka returns retries complete every one', async () => {
  // The test pauses its broker, so it needs one it owns: a shared one (KAFKA_BROKERS, as under
  // `npm test`) serves every other suite. Then payment-callback is moved to a private broker.
  let own: KafkaBroker | undefined;
  let sharedEvents: typeof events | undefined;
  if (!infra.started.kafka) {
    own = await startKafka();
    await restartPayment({ KAFKA_BROKERS: own.brokers });
    sharedEvents = events;
    events = await collectEvents(own.brokers);
  }
  try {
    await kafkaOutage((own ?? infra.started.kafka)!);
  } finally {
    if (own !== undefined) {
      await events.stop();
      events = sharedEvents!;
      await restartPayment();
      await own.stop();
    }
  }
});

async function kafkaOutage(broker: KafkaBroker) {
  const names = ['k1', 'k2', 'k3'];
  for (const n of names) await order(n);
  broker.pause();
  try {
    for (const n of names) await pay(orderNo(n));
    await waitFor(async () => (await sandboxOrder(orderNo('k1'))).notifications[0]?.attempts.length, {
      timeoutMs: 10_000,
      message: 'first attempt',
    });
    const manual = signedNotification(secrets, {
      appid: APPID,
      mchid: secrets.mchid,
      out_trade_no: orderNo('k1'),
      transaction_id: (await sandboxOrder(orderNo('k1'))).transaction_id,
      trade_state: 'SUCCESS',
      success_time: '2024-01-01T10:00:00+08:00',
      payer: { openid: openidOf('k1') },
      amount: { total: 100, payer_total: 100, currency: 'CNY' },
    });
    const started = Date.now();
    const r = await post(payment.notifyUrl, manual);
    const took = Date.now() - started;
    assert.ok(
      r.status >= 500,
      `5xx while Kafka is down: ${r.status}; payment-callback's last log lines:\n` +
        payment.process.logs
          .slice(-15)
          .map((l) => JSON.stringify(l))
          .join('\n'),
    );
    assert.ok(took < 5_000, `answered in ${took} ms`);
    assert.equal(JSON.parse(r.text).code, 'FAIL');
    for (const n of names) assert.ok((await sandboxOrder(orderNo(n))).notifications[0]!.delivered === false);
  } finally {
    broker.resume();
  }
  for (const n of names) {
    await waitFor(async () => (await sandboxOrder(orderNo(n))).notifications[0]?.delivered, {
      timeoutMs: 60_000,
      message: `${n} delivered after Kafka returned`,
    });
    assert.equal((await state(orderNo(n))).state, PaymentState.PAID);
  }
  await waitFor(() => names.every((n) => eventsOf(orderNo(n), 'paymentSucceeded').length > 0), {
    timeoutMs: 20_000,
    message: 'events',
  });
}

test('secret rotation: a new platform key bundle is trusted without a restart', async () => {
  const { writeFile, rename } = await import('node:fs/promises');
  const { generateKeyPairSync } = await import('node:crypto');
  const fresh = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const id = 'PUB_KEY_ID_0177777777777777777777777777777777';
  const { readFileSync } = await import('node:fs');
  const bundle = readFileSync(secrets.platformKeysFile, 'utf8');
  await writeFile(
    `${secrets.platformKeysFile}.new`,
    `${bundle}\n${id}\n${fresh.publicKey.export({ type: 'spki', format: 'pem' })}`,
  );
  await rename(`${secrets.platformKeysFile}.new`, secrets.platformKeysFile);
  await order('rot');
  const rotated = { ...secrets, platformPublicKey: { id, privateKey: fresh.privateKey } };
  const n = signedNotification(rotated, {
    appid: APPID,
    mchid: secrets.mchid,
    out_trade_no: orderNo('rot'),
    transaction_id: '4200000000000000000000000099',
    trade_state: 'SUCCESS',
    success_time: '2024-01-01T10:00:00+08:00',
    payer: { openid: openidOf('rot') },
    amount: { total: 100, payer_total: 100, currency: 'CNY' },
  });
  await waitFor(async () => (await post(payment.notifyUrl, n)).status === 204, {
    timeoutMs: 5_000,
    message: 'new key trusted',
  });
  assert.equal((await state(orderNo('rot'))).state, PaymentState.PAID);
});

test('WeChat Pay down: the breaker opens and CreateJsapiOrder fails fast with Unavailable, then recovers', async () => {
  const faults = (method: string, body?: unknown) =>
    fetch(`${sandbox.httpUrl}/sandbox/faults`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  await faults('POST', { path: '/v3/pay/transactions/jsapi', status: 503 });
  let n = 0;
  const attempt = async () => {
    const started = performance.now();
    try {
      await order(`breaker-${n++}`);
      return { code: 0, ms: performance.now() - started };
    } catch (err) {
      return { code: ConnectError.from(err).code, ms: performance.now() - started };
    }
  };
  await waitFor(
    async () => {
      const { code, ms } = await attempt();
      assert.equal(code, Code.Unavailable);
      return ms < 50;
    },
    { timeoutMs: 15_000, message: 'orders fail fast once the breaker is open' },
  );
  await faults('DELETE');
  await waitFor(async () => (await attempt()).code === 0, {
    timeoutMs: 30_000,
    message: 'orders succeed again through half-open once WeChat Pay heals',
  });
});
