// The sandbox as `npm start` runs it: SANDBOX_APPS preconfigures apps, the WeChat paths sit behind
// fault injection and call counting, the control API does not.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServiceProcess, type ServiceProcess } from '@wxmesh/testing';
import { sandboxClient } from './test-support.js';

let sandbox: ServiceProcess;
let client: ReturnType<typeof sandboxClient>;

before(async () => {
  sandbox = await startServiceProcess('wechat-sandbox', {
    env: { SANDBOX_APPS: 'wxstart000000001:start-secret, wxstart000000002:second-secret' },
  });
  client = sandboxClient(sandbox.httpUrl);
});
after(async () => {
  sandbox.child.kill('SIGTERM');
  await sandbox.exited;
});

test('SANDBOX_APPS apps work at once; faults and /sandbox/calls apply to WeChat paths, not to the control API', async () => {
  const query = { appid: 'wxstart000000001', secret: 'start-secret', grant_type: 'client_credential' };
  assert.equal(typeof (await client.get('/cgi-bin/token', query)).body.access_token, 'string');
  const second = { appid: 'wxstart000000002', secret: 'second-secret', grant_type: 'client_credential' };
  assert.equal(typeof (await client.get('/cgi-bin/token', second)).body.access_token, 'string');

  assert.equal(
    (await client.post('/sandbox/faults', { path: '/cgi-bin/token', errcode: -1, times: 1 })).status,
    204,
  );
  assert.equal((await client.get('/cgi-bin/token', query)).body.errcode, -1);
  assert.equal(typeof (await client.get('/cgi-bin/token', query)).body.access_token, 'string');

  await client.get('/sandbox/mp/counters');
  await client.post('/sandbox/mp/clock', { advanceMs: 0 });
  const calls = (await client.get('/sandbox/calls')).body;
  assert.deepEqual(calls, { '/cgi-bin/token': 4 });
  const counters = (await client.get('/sandbox/mp/counters')).body as Record<string, Record<string, number>>;
  assert.equal(counters.wxstart000000001!.accessTokensIssued, 2, 'the injected failure issued nothing');
});

test('a malformed SANDBOX_APPS stops the process naming the variable, without echoing it', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: {
      ...process.env,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      SANDBOX_APPS: 'wxok:fine,leaked-secret-without-appid',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(output, /SANDBOX_APPS/);
  assert.doesNotMatch(output, /leaked-secret/);
});
