// Fault injection over real HTTP: an injected delay behaves like a slow real server, so a client
// that gives up during it does not get its request processed behind its back.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { useTestSandbox } from './mp/test-support.js';

const APP = { appid: 'wxfaults000000001', secret: 'faults-secret' };
const sandbox = useTestSandbox([APP]);

afterEach(async () => {
  assert.equal((await sandbox.del('/sandbox/faults')).status, 204);
});

function code2SessionUrl(jsCode: string): URL {
  const url = new URL('/sns/jscode2session', sandbox.url);
  for (const [k, v] of Object.entries({ ...APP, js_code: jsCode, grant_type: 'authorization_code' }))
    url.searchParams.set(k, v);
  return url;
}

test('a client that hangs up during an injected delay leaves its js_code unspent', async () => {
  const fixture = (await sandbox.post('/sandbox/mp/js-codes', { appid: APP.appid, openid: 'o-slow' })).body;
  const jsCode = fixture.js_code as string;
  assert.equal(
    (await sandbox.post('/sandbox/faults', { path: '/sns/jscode2session', delayMs: 400 })).status,
    204,
  );

  await assert.rejects(
    fetch(code2SessionUrl(jsCode), { signal: AbortSignal.timeout(100) }),
    (err: Error) => err.name === 'TimeoutError',
  );
  // Sent after the first one gave up and delayed just as long, this call is processed after the
  // first one's delay has run out: had the first been processed then, this one would get 40163.
  const again = await fetch(code2SessionUrl(jsCode));
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), { session_key: fixture.session_key, openid: 'o-slow' });
  assert.deepEqual((await sandbox.get('/sandbox/calls')).body, { '/sns/jscode2session': 2 });
});

test('a delayed call whose client waits is answered after the delay, and spends the code', async () => {
  const fixture = (await sandbox.post('/sandbox/mp/js-codes', { appid: APP.appid, openid: 'o-wait' })).body;
  await sandbox.post('/sandbox/faults', { path: '/sns/jscode2session', delayMs: 200, times: 1 });
  const started = performance.now();
  const first = await fetch(code2SessionUrl(fixture.js_code as string));
  assert.ok(performance.now() - started >= 190, 'the delay was applied');
  assert.equal(((await first.json()) as { openid: string }).openid, 'o-wait');
  const second = await fetch(code2SessionUrl(fixture.js_code as string));
  assert.equal(((await second.json()) as { errcode: number }).errcode, 40163);
});
