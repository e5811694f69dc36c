// The endpoint table alone: exact paths, `{name}` segments (decoded), methods, and a miss left to
// the next route.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { endpointsRoute, type Endpoint } from './http.js';

const endpoints: Endpoint[] = [
  { method: 'GET', path: '/orders/{otn}', handler: (req) => ({ body: { route: 'order', ...req.params } }) },
  {
    method: 'POST',
    path: '/orders/{otn}/pay',
    handler: (req) => ({ body: { route: 'pay', ...req.params } }),
  },
  { method: 'GET', path: '/orders/list', handler: () => ({ body: { route: 'list' } }) },
  { method: 'GET', path: '/a.b', handler: () => ({ status: 204 }) },
];
const route = endpointsRoute(endpoints);
const server = createServer((req, res) => {
  void Promise.resolve(route(req, res)).then((served) => served || res.writeHead(404).end('next route'));
});
let url = '';
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const call = async (method: string, path: string) => {
  const res = await fetch(`${url}${path}`, { method });
  const text = await res.text();
  return { status: res.status, body: text && res.status === 200 ? (JSON.parse(text) as unknown) : text };
};

test('exact paths win over patterns; `{name}` segments are decoded into params', async () => {
  assert.deepEqual(await call('GET', '/orders/list'), { status: 200, body: { route: 'list' } });
  assert.deepEqual(await call('GET', '/orders/T%201'), { status: 200, body: { route: 'order', otn: 'T 1' } });
  assert.deepEqual(await call('POST', '/orders/T2/pay'), { status: 200, body: { route: 'pay', otn: 'T2' } });
});

test('another method, a longer path or a regex character taken literally is not a match', async () => {
  assert.equal((await call('POST', '/orders/T1')).status, 404);
  assert.equal((await call('GET', '/orders/T1/pay')).status, 404);
  assert.equal((await call('GET', '/orders/T1/extra')).status, 404);
  assert.equal((await call('GET', '/aXb')).status, 404);
  assert.equal((await call('GET', '/a.b')).status, 204);
});
