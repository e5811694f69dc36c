// The WeChat API client against a real local HTTP server that stalls where WeChat can: before the
// headers, or between the headers and the body.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createWeChatApi } from './api-client.js';
import { WeChatApiError, WeChatUnavailableError } from './errors.js';

const held = new Set<ServerResponse>();
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/no-answer') held.add(res);
  else if (path === '/stalled-body') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"openid":');
    held.add(res);
  } else if (path === '/errcode') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end('{"errcode":40029,"errmsg":"invalid code"}');
  } else res.writeHead(200, { 'content-type': 'application/json' }).end('not json');
});
let api: ReturnType<typeof createWeChatApi>;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = createWeChatApi({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});

after(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A signal aborted after `ms` with a reason of the test's own, as the kit's deadline does. */
function deadline(ms: number) {
  const controller = new AbortController();
  const reason = new Error('the served call’s deadline');
  setTimeout(() => controller.abort(reason), ms);
  return { signal: controller.signal, reason };
}

test('a deadline before WeChat answers rejects with the signal’s reason, at the deadline', async () => {
  const { signal, reason } = deadline(150);
  const started = performance.now();
  await assert.rejects(api.get('/no-answer', { secret: 's3cret' }, signal), (err) => err === reason);
  assert.ok(performance.now() - started < 2000, 'ended at the deadline, not at some transport timeout');
});

test('a deadline while the body is still coming is the caller’s deadline too, not “not JSON”', async () => {
  const { signal, reason } = deadline(150);
  await assert.rejects(api.get('/stalled-body', {}, signal), (err) => err === reason);
});

test('without a deadline, errcodes and broken bodies keep their own errors and never show the query', async () => {
  await assert.rejects(api.get('/errcode', { secret: 's3cret' }), (err: unknown) => {
    assert.ok(err instanceof WeChatApiError);
    assert.equal(err.errcode, 40029);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
  await assert.rejects(api.get('/garbage', { secret: 's3cret' }), (err: unknown) => {
    assert.ok(err instanceof WeChatUnavailableError);
    assert.match(err.message, /not JSON/);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
});
