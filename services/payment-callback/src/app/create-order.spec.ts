import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { WechatPayApiError } from '../adapters/wechat-pay-api.js';
import { eventIds } from '../domain/events.js';
import { fakeDeps, fakePayApi, fakeProducer, fakeStore, MCHID, NOW, orderContent } from '../../test/fakes.js';
import { createOrder, jsapiOrderRequest } from './create-order.js';

test('the JSAPI request carries the order, and optional fields only when given', () => {
  const bare = jsapiOrderRequest(orderContent('O1'), MCHID, 'https://n');
  assert.deepEqual(bare, {
    appid: 'wx0123456789abcdef',
    mchid: MCHID,
    description: 'tea',
    out_trade_no: 'O1',
    notify_url: 'https://n',
    amount: { total: 100, currency: 'CNY' },
    payer: { openid: 'o_alice' },
  });
  const full = jsapiOrderRequest(
    orderContent('O1', {
      timeExpire: Date.UTC(2024, 0, 1, 2, 0, 0),
      attach: 'a',
      goodsTag: 'g',
      payerClientIp: '10.0.0.1',
    }),
    MCHID,
    'https://n',
  );
  assert.equal(full.time_expire, '2024-01-01T10:00:00+08:00');
  assert.equal(full.attach, 'a');
  assert.equal(full.goods_tag, 'g');
  assert.deepEqual(full.scene_info, { payer_client_ip: '10.0.0.1' });
});

test('a new order is placed, scheduled before it is stored, and its OrderCreated emitted and settled', async () => {
  const { store, calls, due } = fakeStore();
  const producer = fakeProducer();
  const api = fakePayApi();
  const deps = fakeDeps({ store, producer, api });
  const order = await createOrder(deps, orderContent('O2'));
  assert.equal(order.prepayId, 'prepay-O2');
  assert.equal(order.state, 'CREATED');
  assert.equal(order.createdAt, NOW);
  assert.equal(api.placed.length, 1);
  assert.deepEqual(calls, ['get O2', 'schedule O2', 'create O2', `settle O2 ${eventIds.created('O2')}`]);
  assert.equal(due.get('O2'), NOW + deps.reconcileAfterMs, 'stays due for reconciliation');
  assert.deepEqual(
    producer.emitted.map((e) => e.payload.case),
    ['orderCreated'],
  );
});

test('the same content again answers the recorded order without asking WeChat Pay; other content is AlreadyExists', async () => {
  const { store } = fakeStore();
  const api = fakePayApi();
  const deps = fakeDeps({ store, api });
  const first = await createOrder(deps, orderContent('O3'));
  const again = await createOrder(deps, orderContent('O3'));
  assert.equal(again.prepayId, first.prepayId);
  assert.equal(api.placed.length, 1);
  await assert.rejects(
    createOrder(deps, orderContent('O3', { amount: 101 })),
    (err: ConnectError) => err.code === Code.AlreadyExists && /O3/.test(err.message),
  );
  assert.equal(api.placed.length, 1);
});

test('WeChat Pay refusing the order: 400/403 FailedPrecondition, others Unavailable, and nothing stored', async () => {
  const cases = [
    [400, Code.FailedPrecondition],
    [403, Code.FailedPrecondition],
    [429, Code.Unavailable],
  ] as const;
  for (const [status, code] of cases) {
    const { store, calls } = fakeStore();
    const api = fakePayApi();
    api.failure = new WechatPayApiError(status, 'PARAM_ERROR', 'bad');
    await assert.rejects(
      createOrder(fakeDeps({ store, api }), orderContent('O4')),
      (err: ConnectError) => err.code === code && /PARAM_ERROR/.test(err.message),
    );
    assert.deepEqual(calls, ['get O4'], `${status}: nothing stored`);
  }
  const api = fakePayApi();
  api.failure = new ConnectError('WeChat Pay is unavailable', Code.Unavailable);
  await assert.rejects(
    createOrder(fakeDeps({ store: fakeStore().store, api }), orderContent('O5')),
    (err) => err === api.failure,
  );
});

test('Kafka down at creation: the order stands, its OrderCreated stays owed for the sweeper', async () => {
  const { store, order: current } = fakeStore();
  const producer = fakeProducer();
  producer.down = true;
  const order = await createOrder(fakeDeps({ store, producer }), orderContent('O6'));
  assert.equal(order.prepayId, 'prepay-O6');
  assert.deepEqual(current('O6')!.pendingEvents, { [eventIds.created('O6')]: 'created' });
});
