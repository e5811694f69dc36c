// Who may do what with payments: the business backend, which owns the price, places orders over the
// mesh (grpc port, peer business-backend); a mini-program user at the edge (http port, identity from
// the cloud gateway) gets the signed wx.requestPayment parameters and the state of their own orders
// only. Real payment-callback and wechat-sandbox processes, real Redis and Kafka.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { PaymentState } from '@wxmesh/contracts';
import {
  asGatewayUser,
  freePort,
  startInfra,
  waitFor,
  withBearer,
  type Infra,
  type ServiceProcess,
} from '@wxmesh/testing';
import { writeDevPaymentSecrets, type DevPaymentSecrets } from '../scripts/dev-keys.js';
import {
  APPID,
  openidOf,
  orderNo,
  paySignValid,
  startPayment,
  startSandbox,
  type PaymentProcess,
} from './support.js';

let infra: Infra<{ redis: true; kafka: true }>;
let secrets: DevPaymentSecrets;
let dir: string;
let sandbox: ServiceProcess;
let payment: PaymentProcess;

const alice = { openid: openidOf('alice'), appid: APPID };
const bob = { openid: openidOf('bob'), appid: APPID };
const OTHER_APPID = 'wxfedcba9876543210';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wxmesh-pay-edge-'));
  [infra, secrets] = await Promise.all([
    startInfra({ redis: true, kafka: true }),
    writeDevPaymentSecrets(dir),
  ]);
  sandbox = await startSandbox(secrets);
  payment = await startPayment(infra, secrets, sandbox.httpUrl, await freePort(), {
    EDGE_BEHIND_GATEWAY: 'true',
    // Nothing listens there: auth-verify is down, which is what the session-token test shows.
    AUTH_VERIFY_ADDR: `127.0.0.1:${await freePort()}`,
  });
});

after(async () => {
  for (const p of [payment?.process, sandbox]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
  await infra?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The business backend places an order for `user` at its own price. */
const placeFor = (user: { openid: string }, n: string, amountTotal = 100) =>
  payment.client.createJsapiOrder({
    appid: APPID,
    openid: user.openid,
    outTradeNo: orderNo(n),
    amountTotal,
    description: `edge order ${n}`,
  });

/** The error `call` fails with; fails the test when it succeeds. */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail('the call succeeded; expected it to be refused');
}

test('the backend prices, the user pays: user A gets freshly signed wx.requestPayment params for their order', async () => {
  const created = await placeFor(alice, 'own', 2_345);
  const got = await payment.edge(asGatewayUser(alice)).getPaymentParams({ outTradeNo: orderNo('own') });
  const p = got.requestPayment!;
  assert.equal(p.appId, APPID);
  assert.equal(p.package, `prepay_id=${created.prepayId}`);
  assert.equal(p.signType, 'RSA');
  assert.ok(paySignValid(secrets, APPID, p), 'paySign verifies with the merchant certificate');
  assert.notEqual(p.nonceStr, created.requestPayment!.nonceStr, 'signed afresh, not replayed');
  assert.equal(got.payment!.amountTotal, 2_345, "the backend's price");
  assert.equal(got.payment!.openid, alice.openid);
  assert.equal(got.payment!.state, PaymentState.CREATED);

  // A gateway that names no app still knows the user by openid.
  const openidOnly = payment.edge(asGatewayUser({ openid: alice.openid }));
  assert.equal(
    (await openidOnly.getPaymentParams({ outTradeNo: orderNo('own') })).payment!.outTradeNo,
    orderNo('own'),
  );
});

test("another user's order is NotFound, answered exactly like an order that does not exist", async () => {
  await placeFor(alice, 'theirs');
  const unknown = await failure(
    payment.edge(asGatewayUser(bob)).getPaymentParams({ outTradeNo: orderNo('nosuch') }),
  );
  assert.equal(unknown.code, Code.NotFound);
  const refusals = {
    'user B': payment.edge(asGatewayUser(bob)),
    "user A's openid under another app": payment.edge(
      asGatewayUser({ openid: alice.openid, appid: OTHER_APPID }),
    ),
  };
  for (const [who, client] of Object.entries(refusals)) {
    const err = await failure(client.getPaymentParams({ outTradeNo: orderNo('theirs') }));
    assert.equal(err.code, Code.NotFound, who);
    assert.equal(
      err.rawMessage.replace(orderNo('theirs'), '<otn>'),
      unknown.rawMessage.replace(orderNo('nosuch'), '<otn>'),
      `${who}: the same answer as for an unknown order`,
    );
  }
});

test('GetPayment at the edge shows a user only their own orders; the backend sees any', async () => {
  await placeFor(alice, 'state');
  const otn = orderNo('state');
  const mine = await payment.edge(asGatewayUser(alice)).getPayment({ outTradeNo: otn });
  assert.equal(mine.payment!.openid, alice.openid);
  const unknown = await failure(payment.edge(asGatewayUser(bob)).getPayment({ outTradeNo: orderNo('none') }));
  const theirs = await failure(payment.edge(asGatewayUser(bob)).getPayment({ outTradeNo: otn }));
  assert.equal(theirs.code, Code.NotFound);
  assert.equal(theirs.rawMessage.replace(otn, '<otn>'), unknown.rawMessage.replace(orderNo('none'), '<otn>'));
  assert.equal((await payment.client.getPayment({ outTradeNo: otn })).payment!.openid, alice.openid);
});

test('CreateJsapiOrder is not served at the edge: 404 NotFound, and no order is placed', async () => {
  const otn = orderNo('edgeprice');
  const order = {
    appid: APPID,
    openid: alice.openid,
    outTradeNo: otn,
    amountTotal: 1,
    description: 'my own price',
  };
  const err = await failure(payment.edge(asGatewayUser(alice)).createJsapiOrder(order));
  assert.equal(err.code, Code.NotFound);
  const raw = await fetch(`${payment.process.httpUrl}/wxmesh.payment.v1.PaymentService/CreateJsapiOrder`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-wx-openid': alice.openid, 'x-wx-appid': APPID },
    body: JSON.stringify(order),
  });
  assert.equal(raw.status, 404);
  await raw.arrayBuffer();
  assert.equal((await failure(payment.client.getPayment({ outTradeNo: otn }))).code, Code.NotFound);
});

test('CreateJsapiOrder over the mesh from a peer other than the business backend: PermissionDenied', async () => {
  const otn = orderNo('bypeer');
  const err = await failure(
    payment.peer('session').createJsapiOrder({
      appid: APPID,
      openid: alice.openid,
      outTradeNo: otn,
      amountTotal: 1,
      description: 'not the backend',
    }),
  );
  assert.equal(err.code, Code.PermissionDenied);
  assert.equal((await failure(payment.client.getPayment({ outTradeNo: otn }))).code, Code.NotFound);
});

test('with no identity at the edge: Unauthenticated', async () => {
  await placeFor(alice, 'anon');
  const anonymous = payment.edge();
  const params = await failure(anonymous.getPaymentParams({ outTradeNo: orderNo('anon') }));
  assert.equal(params.code, Code.Unauthenticated);
  const state = await failure(anonymous.getPayment({ outTradeNo: orderNo('anon') }));
  assert.equal(state.code, Code.Unauthenticated);
});

test('a paid order gets no payment params: FailedPrecondition', async () => {
  await placeFor(alice, 'paid');
  const otn = orderNo('paid');
  await fetch(`${sandbox.httpUrl}/sandbox/pay/orders/${otn}/pay`, { method: 'POST', body: '{}' });
  await waitFor(
    async () => (await payment.client.getPayment({ outTradeNo: otn })).payment!.state === PaymentState.PAID,
    { timeoutMs: 10_000, message: 'order paid' },
  );
  const err = await failure(payment.edge(asGatewayUser(alice)).getPaymentParams({ outTradeNo: otn }));
  assert.equal(err.code, Code.FailedPrecondition);
  assert.match(err.rawMessage, /cannot be paid again/);
});

test('a session token is checked with auth-verify (AUTH_VERIFY_ADDR): while it is down, Unavailable, not a sign-in prompt', async () => {
  await placeFor(alice, 'bearer');
  const err = await failure(
    payment.edge(withBearer('some-session-token')).getPaymentParams({ outTradeNo: orderNo('bearer') }),
  );
  assert.equal(err.code, Code.Unavailable, err.message);
});
