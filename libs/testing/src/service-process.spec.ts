// startServiceProcess and startServiceProcesses with a real service process (the WeChat sandbox,
// which needs no Redis or Kafka): what a failed start leaves behind, and the environment it gets.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { startServiceProcess, startServiceProcesses } from './service-process.js';

const spawned: ChildProcess[] = [];
const record = (child: ChildProcess) => void spawned.push(child);
after(() => {
  for (const child of spawned)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

const gone = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
/** The environment a process was started with, as the kernel holds it. */
const environOf = (child: ChildProcess) =>
  new Map(
    readFileSync(`/proc/${child.pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
  );
/** A configuration the service rejects at start-up: it exits 1 before serving. */
const BAD_CONFIG = { GRPC_PORT: 'not-a-port' };

test('a service starts with DRAIN_DELAY_MS=0 unless the caller sets it, and serves', async () => {
  let drainDelay: string | undefined;
  const service = await startServiceProcess('wechat-sandbox', {
    onSpawn: (child) => {
      record(child);
      drainDelay = environOf(child).get('DRAIN_DELAY_MS');
    },
  });
  assert.equal(drainDelay, process.env.DRAIN_DELAY_MS ?? '0');
  assert.equal((await fetch(`${service.httpUrl}/readyz`)).status, 200);
  service.child.kill('SIGTERM');
  await service.exited;

  let given: string | undefined;
  await assert.rejects(
    startServiceProcess('wechat-sandbox', {
      env: { ...BAD_CONFIG, DRAIN_DELAY_MS: '5s' },
      onSpawn: (child) => {
        record(child);
        given = environOf(child).get('DRAIN_DELAY_MS');
      },
    }),
  );
  assert.equal(given, '5s');
});

test('a service that exits before serving fails the start with its own output', async () => {
  await assert.rejects(
    startServiceProcess('wechat-sandbox', { env: BAD_CONFIG, onSpawn: record }),
    (err: Error) => {
      assert.match(err.message, /^wechat-sandbox exited \(1\) before serving/);
      assert.match(err.message, /GRPC_PORT/, 'the service’s own explanation is quoted');
      return true;
    },
  );
});

test('a start past its deadline kills the process before it fails, naming the scaled limit', async () => {
  let child: ChildProcess | undefined;
  await assert.rejects(
    startServiceProcess('wechat-sandbox', {
      timeoutMs: 50,
      onSpawn: (c) => {
        record(c);
        child = c;
      },
    }),
    /wechat-sandbox did not start in \d+ ms \(50 ms × load factor [\d.]+; set WXMESH_TIMEOUT_SCALE/,
  );
  assert.ok(child && gone(child), 'the process is gone when the start fails');
});

test('startServiceProcesses: one failed start kills every other process of the call, started or not', async () => {
  const children: ChildProcess[] = [];
  const onSpawn = (child: ChildProcess) => {
    record(child);
    children.push(child);
  };
  await assert.rejects(
    startServiceProcesses([
      { name: 'wechat-sandbox', options: { onSpawn } },
      { name: 'wechat-sandbox', options: { env: BAD_CONFIG, onSpawn } },
      { name: 'wechat-sandbox', options: { onSpawn } },
    ]),
    /^Error: wechat-sandbox exited \(1\) before serving[\s\S]*GRPC_PORT/,
  );
  assert.equal(children.length, 3);
  assert.deepEqual(
    children.map((c) => gone(c)),
    [true, true, true],
    'no process of the call is left running',
  );
});
