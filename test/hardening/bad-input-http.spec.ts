// Bad input on the http port (connect-node on HTTP/1.1: Connect, gRPC-Web, webhooks) of real
// service processes on real Redis and Kafka: session and auth-verify for the RPCs, message-router's
// push webhook and payment-callback's notify webhook, the WeChat sandbox's API. Every case gets its
// precise status and message; no process crashes (/healthz 200 and alive afterwards); a 100 MB case
// costs the process under +64 MB of resident memory at its peak; and Echo on the same process, on
// both ports, answers within 100 ms throughout (measured from a prober process of its own; the
// services and the prober run at a raised CPU priority, so the bound measures what bad input does
// to a process and not how a loaded machine shares its cores).
//
// Requests are written byte for byte on raw sockets: a client library would refuse to send most of
// this, or would stop at its own limits and hide what the server does.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { DescMethod } from '@bufbuild/protobuf';
import { AuthVerifyService, SessionService } from '@wxmesh/contracts';
import { methodAccess, servedAtEdge } from '@wxmesh/rpc';
import {
  freePort,
  loadScaledBound,
  startInfra,
  startServiceProcess,
  type Infra,
  type ServiceProcess,
} from '@wxmesh/testing';
import fc from 'fast-check';
import {
  envelopes,
  exchange,
  frame,
  grpcWebStatus,
  raisePriority,
  requestHead,
  resetPeakRss,
  rss,
  startEchoProbe,
  type Exchange,
  type ProbeTarget,
} from './bad-input-http-support.js';
import { payKeys } from '../support/pay-keys.js';

const APPID = 'wx5e1a9d2b7c3f4a60';
const PUSH_TOKEN = 'hardeningtoken';
const MB = 1024 * 1024;
/** The bounds. */
const ECHO_MS = loadScaledBound(100);
const RSS_GROWTH = 64 * MB;
const ECHO = '/wxmesh.echo.v1.EchoService/Echo';
const ECHO_STREAM = '/wxmesh.echo.v1.EchoService/EchoStream';
const PUSH_PATH = `/webhooks/wechat/message/${APPID}`;
const NOTIFY_PATH = '/webhooks/wechatpay/notify';

let infra: Infra<{ redis: true; kafka: true }>;
const children: ServiceProcess['child'][] = [];
let sandbox: ServiceProcess;
let session: ServiceProcess;
let auth: ServiceProcess;
let router: ServiceProcess;
let payment: ServiceProcess;

/** Starts a service at the raised priority the Echo bound is measured at (see `raisePriority`). */
async function start(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  // Recorded before it is awaited, so a failed start cannot leak a process.
  const p = await startServiceProcess(name, {
    env,
    timeoutMs: 180_000,
    onSpawn: (child) => children.push(child),
  });
  raisePriority(p.child.pid!);
  return p;
}

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  const dir = mkdtempSync(join(tmpdir(), 'bad-input-http-'));
  const appSecret = randomBytes(16).toString('hex');
  writeFileSync(join(dir, 'app-secret'), `${APPID}=${appSecret}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  const pay = await payKeys(join(dir, 'pay'));
  const shared = { REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers, SHUTDOWN_GRACE_MS: '2000' };
  [sandbox, session] = await Promise.all([
    start('wechat-sandbox', { ...shared, ...pay.sandbox, SANDBOX_APPS: `${APPID}:${appSecret}` }),
    start('session', shared),
  ]);
  auth = await start('auth-verify', {
    ...shared,
    SESSION_ADDR: session.grpcAddress,
    WECHAT_API_BASE_URL: sandbox.httpUrl,
    WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
    SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
  });
  const paymentPort = await freePort();
  [router, payment] = await Promise.all([
    start('message-router', {
      ...shared,
      SESSION_ADDR: session.grpcAddress,
      AUTH_VERIFY_ADDR: auth.grpcAddress,
      WECHAT_API_BASE_URL: sandbox.httpUrl,
      WECHAT_PUSH_APPS: `${APPID}:${PUSH_TOKEN}`,
    }),
    start('payment-callback', {
      ...shared,
      ...pay.paymentCallback,
      AUTH_VERIFY_ADDR: auth.grpcAddress,
      WECHATPAY_BASE_URL: sandbox.httpUrl,
      WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${paymentPort}${NOTIFY_PATH}`,
      HTTP_PORT: String(paymentPort),
    }),
  ]);
});

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await infra?.stop();
});

const target = (name: string, p: ServiceProcess): ProbeTarget & { process: ServiceProcess } => ({
  name,
  grpcAddress: p.grpcAddress,
  httpUrl: p.httpUrl,
  process: p,
});

/**
 * Runs `attack` against `targets` while Echo is probed on both their ports and their peak resident
 * memory is watched; then checks the bounds, and that every target is alive and healthy.
 */
async function underAttack(
  t: TestContext,
  targets: Array<ProbeTarget & { process: ServiceProcess }>,
  attack: () => Promise<void>,
  options: { maxRssGrowth?: number } = {},
): Promise<void> {
  const probe = await startEchoProbe(targets);
  const before = new Map(targets.map((t) => [t.name, rss(t.process.child.pid!).now]));
  for (const target of targets) resetPeakRss(target.process.child.pid!);
  let report;
  try {
    await attack();
  } finally {
    report = await probe.stop();
  }
  assert.deepEqual(report.failures, [], 'every Echo answered');
  for (const target of targets) {
    const { grpc, http } = report.latencies[target.name]!;
    assert.ok(grpc.length > 0 && http.length > 0, `${target.name}: Echo was probed during the attack`);
    const worst = (ms: number[]) => Math.max(...ms).toFixed(1);
    const growth = rss(target.process.child.pid!).peak - before.get(target.name)!;
    t.diagnostic(
      `${target.name}: slowest Echo ${worst(grpc)} ms (grpc) / ${worst(http)} ms (http) of ` +
        `${grpc.length + http.length}; peak RSS +${(growth / MB).toFixed(1)} MB`,
    );
    assert.ok(Math.max(...grpc, ...http) < ECHO_MS, `${target.name}: Echo answered within ${ECHO_MS} ms`);
    if (options.maxRssGrowth !== undefined)
      assert.ok(
        growth < options.maxRssGrowth,
        `${target.name}: peak RSS grew by ${(growth / MB).toFixed(1)} MB`,
      );
    assert.equal(target.process.child.exitCode, null, `${target.name} is alive`);
    assert.equal((await fetch(`${target.httpUrl}/healthz`)).status, 200, `${target.name} /healthz`);
  }
}

/** Endless copies of one chunk: a body that goes on until the server stops it. */
function* endless(chunk: Buffer, limit = 100 * MB): Generator<Buffer> {
  for (let sent = 0; sent < limit; sent += chunk.length) yield chunk;
}

function connectError(answer: Exchange): { code: string; message: string } {
  return JSON.parse(answer.body.toString()) as { code: string; message: string };
}

/** The error a Connect streaming answer ends with. */
function endStreamError(answer: Exchange): { code: string; message: string } | undefined {
  const end = envelopes(answer.body).find((e) => e.flags === 0x02);
  return end && (JSON.parse(end.data.toString()) as { error?: { code: string; message: string } }).error;
}

test('100 MB JSON body, declared and chunked: resource_exhausted before it is read, bounded memory', async (t) => {
  const targets = [target('session', session), target('auth-verify', auth)];
  const filler = Buffer.alloc(64 * 1024, 0x61);
  await underAttack(
    t,
    targets,
    async () => {
      for (const svc of targets) {
        const declared = await exchange(
          svc.httpUrl,
          requestHead('POST', ECHO, { 'content-type': 'application/json', 'content-length': 100 * MB }),
          { body: endless(Buffer.concat([Buffer.from('{"message":"'), filler])) },
        );
        assert.equal(declared.status, 429, svc.name);
        assert.equal(connectError(declared).code, 'resource_exhausted');
        assert.match(connectError(declared).message, /104857600 .*larger than|over the limit/);
        assert.ok(declared.written < 8 * MB, `${svc.name}: ${declared.written} bytes sent before the answer`);

        const chunk = Buffer.concat([
          Buffer.from(`${filler.length.toString(16)}\r\n`),
          filler,
          Buffer.from('\r\n'),
        ]);
        const chunked = await exchange(
          svc.httpUrl,
          requestHead('POST', ECHO, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }),
          { body: endless(chunk), untilClosed: true },
        );
        assert.equal(chunked.status, 429, svc.name);
        assert.equal(connectError(chunked).code, 'resource_exhausted');
        assert.ok(chunked.closed, 'the connection is closed rather than the rest of the body read');
        assert.ok(chunked.written < 32 * MB, `${svc.name}: ${chunked.written} bytes sent before the answer`);
        t.diagnostic(
          `${svc.name}: declared 100 MB refused after ${declared.elapsedMs} ms (${declared.written} bytes sent), ` +
            `chunked after ${chunked.elapsedMs} ms (${(chunked.written / MB).toFixed(1)} MB sent)`,
        );
      }
    },
    { maxRssGrowth: RSS_GROWTH },
  );
});

test('100 KB of gzip inflating to 100 MB: resource_exhausted on Connect, Connect streaming and gRPC-Web', async (t) => {
  // EchoRequest { message: 100 MB of "a" }, in binary (field 1, length-delimited) and in JSON.
  const message = Buffer.alloc(100 * MB, 0x61);
  const binary = Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x32]), message]);
  const bombs = {
    json: gzipSync(Buffer.concat([Buffer.from('{"message":"'), message, Buffer.from('"}')])),
    binary: gzipSync(binary),
  };
  assert.ok(bombs.binary.length < 200 * 1024, `the bomb is ${bombs.binary.length} bytes`);
  const targets = [target('session', session), target('auth-verify', auth)];
  await underAttack(
    t,
    targets,
    async () => {
      for (const svc of targets) {
        const unary = await exchange(
          svc.httpUrl,
          requestHead('POST', ECHO, {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            'content-length': bombs.json.length,
          }),
          { body: bombs.json },
        );
        assert.equal(connectError(unary).code, 'resource_exhausted', svc.name);
        assert.match(connectError(unary).message, /after decompression/);

        const streamed = frame(bombs.binary, 1);
        const stream = await exchange(
          svc.httpUrl,
          requestHead('POST', ECHO_STREAM, {
            'content-type': 'application/connect+proto',
            'connect-content-encoding': 'gzip',
            'content-length': streamed.length,
          }),
          { body: streamed },
        );
        assert.equal(endStreamError(stream)?.code, 'resource_exhausted', svc.name);

        const web = await exchange(
          svc.httpUrl,
          requestHead('POST', ECHO, {
            'content-type': 'application/grpc-web+proto',
            'x-grpc-web': '1',
            'grpc-encoding': 'gzip',
            'content-length': streamed.length,
          }),
          { body: streamed },
        );
        assert.equal(grpcWebStatus(web).code, 8, `${svc.name}: ${grpcWebStatus(web).message}`);
      }
    },
    { maxRssGrowth: RSS_GROWTH },
  );
});

test('200 sockets declaring 100 MB and sending 20 bytes are all answered and closed within seconds', async (t) => {
  const targets = [target('session', session), target('auth-verify', auth)];
  const kinds: Array<{ path: string; headers: Record<string, string>; bytes: Buffer }> = [
    {
      path: ECHO,
      headers: { 'content-type': 'application/json' },
      bytes: Buffer.from('{"message":"aaaaaaaa'),
    },
    {
      path: ECHO,
      headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
      bytes: frame(Buffer.alloc(1000)).subarray(0, 20),
    },
    {
      path: ECHO_STREAM,
      headers: { 'content-type': 'application/connect+proto' },
      bytes: frame(Buffer.alloc(1000)).subarray(0, 20),
    },
  ];
  await underAttack(t, targets, async () => {
    // In waves of 20, each once the last has connected and sent its bytes: the test is about
    // sockets held, not about how fast this machine accepts 400 connections in one go.
    const pending: Array<Promise<Exchange>> = [];
    for (let wave = 0; wave < 10; wave++) {
      const sent: Array<Promise<void>> = [];
      for (const svc of targets) {
        for (let i = wave * 20; i < wave * 20 + 20; i++) {
          const kind = kinds[i % kinds.length]!;
          const head = requestHead('POST', kind.path, { ...kind.headers, 'content-length': 100 * MB });
          sent.push(
            new Promise<void>((onSent) =>
              pending.push(
                exchange(svc.httpUrl, head, {
                  body: kind.bytes,
                  untilClosed: true,
                  timeoutMs: 10_000,
                  onSent,
                }),
              ),
            ),
          );
        }
      }
      await Promise.all(sent);
    }
    const answers = await Promise.all(pending);
    const held = answers.filter((a) => !a.closed);
    assert.equal(held.length, 0, `${held.length} of ${answers.length} sockets still held after 10 s`);
    const slowest = Math.max(...answers.map((a) => a.elapsedMs));
    assert.ok(slowest < 5_000, `the last socket closed after ${slowest} ms`);
    const unanswered = answers.filter((a) => a.status === 0);
    assert.equal(unanswered.length, 0, 'each got an answer before the close');
    for (const a of answers) {
      const code = a.headers['content-type']?.startsWith('application/json')
        ? connectError(a).code
        : a.headers['content-type']?.startsWith('application/grpc-web')
          ? String(grpcWebStatus(a).code)
          : endStreamError(a)?.code;
      assert.ok(code === 'resource_exhausted' || code === '8', `answered ${code}`);
    }
  });
});

test('oversize headers are 431 and the process carries on', async (t) => {
  const targets = [target('session', session), target('auth-verify', auth)];
  await underAttack(t, targets, async () => {
    for (const svc of targets) {
      const answer = await exchange(
        svc.httpUrl,
        requestHead('POST', ECHO, { 'content-type': 'application/json', 'x-big': 'b'.repeat(64 * 1024) }),
        { untilClosed: true },
      );
      assert.equal(answer.status, 431, svc.name);
      assert.ok(answer.closed);
    }
  });
});

/** Every RPC session and auth-verify serve at the edge, with its path. */
function edgeMethods(): Array<{ process: () => ServiceProcess; method: DescMethod; path: string }> {
  const all = [
    { process: () => session, service: SessionService },
    { process: () => auth, service: AuthVerifyService },
  ];
  return all.flatMap(({ process, service }) =>
    service.methods
      .filter((m) => servedAtEdge(methodAccess(m)))
      .map((method) => ({ process, method, path: `/${service.typeName}/${method.name}` })),
  );
}

/** A client's fault is never the server's: no 5xx, no internal, unknown or unimplemented. */
function assertClientFault(what: string, code: string | number, status: number) {
  assert.ok(status < 500, `${what}: HTTP ${status} (${code})`);
  assert.ok(
    !['internal', 'unknown', 'unimplemented', 'data_loss', '13', '2', '12', '15'].includes(String(code)),
    `${what}: ${code}`,
  );
}

test('fuzzed protobuf, JSON and gRPC-Web bodies on every edge RPC: client faults, never internal', async (t) => {
  const methods = edgeMethods();
  assert.ok(methods.length >= 8, 'session and auth-verify serve their edge RPCs');
  const seen = new Map<string, number>();
  const count = (code: string) => seen.set(code, (seen.get(code) ?? 0) + 1);
  const post = (m: (typeof methods)[number], headers: Record<string, string | number>, body: Buffer) =>
    exchange(
      m.process().httpUrl,
      requestHead('POST', m.path, { ...headers, 'content-length': body.length }),
      { body },
    );
  const unary = (m: (typeof methods)[number]) => m.method.methodKind === 'unary';
  // One well-formed call per method first: what a method costs the first time it is called at all
  // (its validation rules compiled, its code paths warmed) is not what bad input costs.
  for (const m of methods)
    await post(
      m,
      { 'content-type': unary(m) ? 'application/json' : 'application/connect+json' },
      unary(m) ? Buffer.from('{}') : frame(Buffer.from('{}')),
    );
  await underAttack(t, [target('session', session), target('auth-verify', auth)], async () => {
    for (const m of methods) {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
          const body = Buffer.from(bytes);
          if (unary(m)) {
            const answer = await post(m, { 'content-type': 'application/proto' }, body);
            const { code, message } = connectError(answer);
            assertClientFault(`${m.path} binary ${body.toString('hex')}`, code, answer.status);
            if (code === 'invalid_argument' && /^request is not a valid/.test(message)) count('undecodable');
            count(code);
          }
          const web = await post(
            m,
            { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
            frame(body),
          );
          const status = grpcWebStatus(web);
          assertClientFault(
            `${m.path} gRPC-Web ${body.toString('hex')}: ${status.message}`,
            status.code,
            web.status,
          );
          const unframed = await post(
            m,
            { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
            body,
          );
          const rawStatus = grpcWebStatus(unframed);
          assertClientFault(
            `${m.path} gRPC-Web raw ${body.toString('hex')}: ${rawStatus.message}`,
            rawStatus.code,
            unframed.status,
          );
        }),
        { numRuns: 40 },
      );
      const field = fc.constantFrom(...m.method.input.fields.map((f) => f.jsonName), 'unknownField');
      const json = fc.oneof(
        fc.json(),
        fc.dictionary(field, fc.jsonValue()).map((o) => JSON.stringify(o)),
        fc.string(),
      );
      await fc.assert(
        fc.asyncProperty(json, async (text) => {
          const body = Buffer.from(text);
          const headers = unary(m)
            ? { 'content-type': 'application/json' }
            : { 'content-type': 'application/connect+json' };
          const answer = await post(m, headers, unary(m) ? body : frame(body));
          const error = unary(m)
            ? answer.status === 200
              ? undefined
              : connectError(answer)
            : endStreamError(answer);
          if (error !== undefined) {
            assertClientFault(`${m.path} JSON ${text}`, error.code, answer.status);
            count(error.code);
          }
        }),
        { numRuns: 40 },
      );
    }
  });
  // The fuzz reached the decoders: undecodable bodies were answered as such, not only refused callers.
  assert.ok((seen.get('undecodable') ?? 0) > 0, `codes seen: ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.ok((seen.get('invalid_argument') ?? 0) > 0);
});

test('gRPC-Web garbage: precise status and message for each kind', async (t) => {
  const web = (body: Buffer, headers: Record<string, string> = {}) =>
    exchange(
      session.httpUrl,
      requestHead('POST', ECHO, {
        'content-type': 'application/grpc-web+proto',
        'x-grpc-web': '1',
        'content-length': body.length,
        ...headers,
      }),
      { body },
    );
  const cases: Array<[string, Buffer, Record<string, string>, number, RegExp]> = [
    [
      'undecodable message',
      frame(Buffer.from([0xff, 0xff, 0xff])),
      {},
      3,
      /not a valid wxmesh\.echo\.v1\.EchoRequest/,
    ],
    ['compressed flag, no encoding', frame(Buffer.from([0x0a, 0x01, 0x70]), 1), {}, 3, /flagged compressed/],
    [
      'two messages for a unary call',
      Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.alloc(0))]),
      {},
      3,
      /more than one message/,
    ],
    ['no message', Buffer.alloc(0), {}, 3, /no message/],
    ['a frame cut short', frame(Buffer.alloc(100)).subarray(0, 50), {}, 3, /incomplete|promised/],
    [
      'corrupt gzip',
      frame(Buffer.from('1f8b08000000000000ffffff', 'hex'), 1),
      { 'grpc-encoding': 'gzip' },
      3,
      /not valid gzip/,
    ],
    ['unknown encoding', frame(Buffer.from([1]), 1), { 'grpc-encoding': 'zstd9' }, 12, /unknown compression/],
  ];
  await underAttack(t, [target('session', session)], async () => {
    for (const [what, body, headers, code, message] of cases) {
      const status = grpcWebStatus(await web(body, headers));
      assert.equal(status.code, code, `${what}: ${status.message}`);
      assert.match(status.message, message, what);
    }
  });
});

/** Plain-mode push signature: sha1 over the sorted token, timestamp and nonce. */
function signedPushQuery(): string {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(6).toString('hex');
  const signature = createHash('sha1').update([PUSH_TOKEN, timestamp, nonce].sort().join('')).digest('hex');
  return `signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`;
}

test('webhooks: oversize, compressed, slow and garbage bodies get 413, 415, 408 and 400 with the reason', async (t) => {
  const hooks = [
    {
      name: 'router push',
      p: () => router,
      path: () => `${PUSH_PATH}?${signedPushQuery()}`,
      limit: 64 * 1024,
    },
    { name: 'payment notify', p: () => payment, path: () => NOTIFY_PATH, limit: 64 * 1024 },
    { name: 'sandbox API', p: () => sandbox, path: () => '/cgi-bin/stable_token', limit: MB },
  ];
  const bomb = gzipSync(Buffer.alloc(100 * MB, 0x61));
  await underAttack(
    t,
    [target('message-router', router), target('payment-callback', payment)],
    async () => {
      for (const hook of hooks) {
        const url = hook.p().httpUrl;
        const declared = await exchange(
          url,
          requestHead('POST', hook.path(), {
            'content-type': 'application/json',
            'content-length': 100 * MB,
          }),
          { body: endless(Buffer.alloc(64 * 1024, 0x61)), untilClosed: true, timeoutMs: 10_000 },
        );
        assert.equal(declared.status, 413, `${hook.name}: ${declared.body}`);
        assert.match(declared.body.toString(), new RegExp(`body over ${hook.limit} bytes`));
        assert.ok(
          declared.closed && declared.elapsedMs < 3_000,
          `${hook.name}: closed after ${declared.elapsedMs} ms`,
        );
        assert.ok(declared.written < 8 * MB, `${hook.name}: ${declared.written} bytes sent`);

        const chunk = Buffer.alloc(16 * 1024, 0x61);
        const streamed = await exchange(
          url,
          requestHead('POST', hook.path(), {
            'content-type': 'application/json',
            'transfer-encoding': 'chunked',
          }),
          {
            body: endless(
              Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
            ),
            untilClosed: true,
            timeoutMs: 10_000,
          },
        );
        assert.equal(streamed.status, 413, hook.name);
        assert.ok(streamed.written < 16 * MB, `${hook.name}: ${streamed.written} bytes sent`);

        const compressed = await exchange(
          url,
          requestHead('POST', hook.path(), {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            'content-length': bomb.length,
          }),
          { body: bomb, timeoutMs: 10_000 },
        );
        assert.equal(compressed.status, 415, hook.name);
        assert.match(
          compressed.body.toString(),
          /Content-Encoding gzip is not accepted; send the body uncompressed/,
        );
      }

      const slow = await exchange(
        router.httpUrl,
        requestHead('POST', `${PUSH_PATH}?${signedPushQuery()}`, {
          'content-type': 'text/xml',
          'content-length': 100,
        }),
        { body: '<xml><ToUserName>', untilClosed: true, timeoutMs: 10_000 },
      );
      assert.equal(slow.status, 408, 'router push: a body still arriving after half its deadline');
      assert.match(slow.body.toString(), /did not arrive within \d+ ms/);
      const slowNotify = await exchange(
        payment.httpUrl,
        requestHead('POST', NOTIFY_PATH, { 'content-type': 'application/json', 'content-length': 100 }),
        { body: '{"id":', untilClosed: true, timeoutMs: 10_000 },
      );
      assert.equal(slowNotify.status, 408, 'payment notify: a body still arriving after half its deadline');

      const garbage = randomBytes(512);
      const push = await exchange(
        router.httpUrl,
        requestHead('POST', `${PUSH_PATH}?${signedPushQuery()}`, { 'content-length': garbage.length }),
        { body: garbage },
      );
      assert.equal(push.status, 400);
      assert.match(push.body.toString(), /neither XML nor JSON/);
      const notify = await exchange(
        payment.httpUrl,
        requestHead('POST', NOTIFY_PATH, {
          'content-type': 'application/json',
          'content-length': garbage.length,
        }),
        { body: garbage },
      );
      assert.equal(notify.status, 400);
      assert.match(notify.body.toString(), /Wechatpay-/);
    },
    { maxRssGrowth: RSS_GROWTH },
  );
  for (const p of [sandbox, router, payment]) {
    assert.equal(p.child.exitCode, null);
    assert.equal((await fetch(`${p.httpUrl}/healthz`)).status, 200);
  }
});
