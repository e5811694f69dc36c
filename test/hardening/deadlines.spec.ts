// One deadline model on both ports, against real processes (WeChat sandbox, session, auth-verify,
// Redis, Kafka): a slow WeChat, a frozen Redis and a slow peer. Every call is answered with
// DeadlineExceeded within its deadline + 50 ms (measured from just before the call), with a
// message that names no internal address, and a Login past its deadline leaves its js_code unspent.
//
// The calls are made with clients that keep no deadline of their own: raw HTTP/2 with a
// `grpc-timeout` header on the grpc port, fetch with `connect-timeout-ms` on the http port. A gRPC
// or Connect library would end the call itself at the deadline and report its own message
// (grpc-js even adds the server's address), which would hide what the server does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import {
  create,
  fromBinary,
  toBinary,
  toJson,
  type DescMessage,
  type DescMethodUnary,
  type MessageInitShape,
} from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { AuthVerifyService, SessionService } from '@wxmesh/contracts';
import {
  behaviourEvent,
  createEventProducer,
  decodeBehaviourEvent,
  ensureBehaviourTopics,
} from '@wxmesh/events';
import {
  collectTopic,
  startInfra,
  startKafka,
  startRedis,
  startServiceProcess,
  type Infra,
  type KafkaBroker,
  type RedisServer,
  type ServiceProcess,
  waitFor,
  loadScaledBound,
  sandboxControl,
} from '@wxmesh/testing';
import kafkajs from 'kafkajs';

const APPID = 'wx0de4d11e5a7b9c2d';
const APP_SECRET = `app-secret-${randomBytes(12).toString('hex')}`;
const RUN = randomBytes(3).toString('hex');
/** The bound: the answer leaves at the deadline, give or take a scheduler tick. */
const SLACK_MS = loadScaledBound(50);
/** How long past its deadline a call is waited for before the test calls it unanswered. */
const GIVE_UP_MS = 5_000;
/** What an internal address, port or grpc-js's timing details look like in a message. */
const INTERNALS = /\d+\.\d+\.\d+\.\d+|remote_addr|LB pick|ECONNREFUSED|localhost|:\d{2,5}\b/;

let infra: Infra<{ redis: true; kafka: true }>;
/** session's own Redis: the one this file freezes (never the shared one). */
let sessionRedis: RedisServer;
let sandbox: ServiceProcess;
let session: ServiceProcess;
let auth: ServiceProcess;
const children: ServiceProcess['child'][] = [];

/** Starts a service, recording its process before it is awaited so a failed start cannot leak. */
function start(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  return startServiceProcess(name, { env, timeoutMs: 120_000, onSpawn: (child) => children.push(child) });
}

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  sessionRedis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'deadlines-spec-'));
  writeFileSync(join(dir, 'app-secret'), `${APPID}=${APP_SECRET}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  // A frozen Redis must end calls by their deadline here, not by the fail-fast wait.
  const common = {
    KAFKA_BROKERS: infra.kafkaBrokers,
    DEPENDENCY_TIMEOUT_MS: '30s',
    EDGE_BEHIND_GATEWAY: 'true',
  };
  [sandbox, session] = await Promise.all([
    start('wechat-sandbox', { ...common, SANDBOX_APPS: `${APPID}:${APP_SECRET}` }),
    start('session', { ...common, REDIS_URL: sessionRedis.url }),
  ]);
  auth = await start('auth-verify', {
    ...common,
    REDIS_URL: infra.redisUrl,
    SESSION_ADDR: session.grpcAddress,
    WECHAT_API_BASE_URL: sandbox.httpUrl,
    WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
    SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    // The caller's deadline, not the breaker's own timeout, is what must end a slow WeChat call.
    WECHAT_TIMEOUT: '30s',
    // Every VerifySession reaches session (the slow peer), none is answered from the warm cache.
    VERIFY_CACHE_TTL: '0',
  });
});

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await sessionRedis?.stop();
  await infra?.stop();
});

/** How a call ended, as the caller saw it on the wire. */
interface Answer {
  readonly code: Code | 0;
  readonly message: string;
  /** From just before the request was sent to the arrival of its status. */
  readonly ms: number;
  readonly body?: Uint8Array | Record<string, unknown>;
}

type Unary = DescMethodUnary<DescMessage, DescMessage>;
const pathOf = (method: Unary) => `/${method.parent.typeName}/${method.name}`;

/** One unary call on a grpc port, carrying `grpc-timeout` but enforcing no deadline itself. */
async function grpcCall<M extends Unary>(
  address: string,
  method: M,
  request: MessageInitShape<M['input']>,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const h2 = connect(`http://${address}`);
  h2.on('error', () => undefined);
  try {
    await once(h2, 'connect');
    const message = toBinary(method.input, create(method.input, request));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const started = performance.now();
    const stream = h2.request({
      ':method': 'POST',
      ':path': pathOf(method),
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
      ...headers,
    });
    stream.end(frame);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    return await new Promise<Answer>((resolve, reject) => {
      const giveUp = setTimeout(
        () =>
          reject(
            new Error(`${pathOf(method)}: no answer ${GIVE_UP_MS} ms after its ${timeoutMs} ms deadline`),
          ),
        timeoutMs + GIVE_UP_MS,
      );
      // The status comes in the trailers, or alone in the headers ("trailers-only").
      const status = (fields: IncomingHttpHeaders) => {
        if (fields['grpc-status'] === undefined) return;
        const ms = performance.now() - started;
        clearTimeout(giveUp);
        stream.once('close', () => {
          const data = Buffer.concat(chunks);
          resolve({
            code: Number(fields['grpc-status']) as Code,
            message: decodeURIComponent(String(fields['grpc-message'] ?? '')),
            ms,
            body: data.length >= 5 ? data.subarray(5) : undefined,
          });
        });
      };
      stream.on('response', status);
      stream.on('trailers', status);
      stream.on('error', (err) => {
        clearTimeout(giveUp);
        reject(err);
      });
    });
  } finally {
    h2.destroy();
  }
}

const CODE_OF_NAME = new Map<string, Code>(
  Object.values(Code)
    .filter((v): v is Code => typeof v === 'number')
    .map((code) => [Code[code].replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase(), code]),
);

/** One unary call in Connect JSON on an http port, with `connect-timeout-ms` and no deadline of its own. */
async function connectCall<M extends Unary>(
  baseUrl: string,
  method: M,
  request: MessageInitShape<M['input']>,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<Answer> {
  // A kept-alive connection first, so the measured call does not include connecting.
  await (await fetch(`${baseUrl}/healthz`)).body?.cancel();
  const body = JSON.stringify(toJson(method.input, create(method.input, request)));
  const started = performance.now();
  const response = await fetch(`${baseUrl}${pathOf(method)}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'connect-protocol-version': '1',
      'connect-timeout-ms': String(timeoutMs),
      ...headers,
    },
    body,
    signal: AbortSignal.timeout(timeoutMs + GIVE_UP_MS),
  }).catch((err: Error) => {
    throw new Error(`${pathOf(method)}: no answer ${GIVE_UP_MS} ms after its ${timeoutMs} ms deadline`, {
      cause: err,
    });
  });
  const ms = performance.now() - started;
  const json = (await response.json()) as Record<string, unknown>;
  if (response.ok) return { code: 0, message: '', ms, body: json };
  return {
    code: CODE_OF_NAME.get(String(json.code)) ?? Code.Unknown,
    message: String(json.message ?? ''),
    ms,
  };
}

/** The call ended with DeadlineExceeded by its deadline + 50 ms, saying nothing about our insides. */
function assertDeadline(t: TestContext, answer: Answer, deadlineMs: number, what: string) {
  t.diagnostic(
    `${what}: ${Code[answer.code] ?? 'OK'} "${answer.message}" after ${answer.ms.toFixed(1)} ms (deadline ${deadlineMs} ms)`,
  );
  assert.equal(answer.code, Code.DeadlineExceeded, `${what}: ${JSON.stringify(answer)}`);
  assert.ok(
    answer.ms <= deadlineMs + SLACK_MS,
    `${what}: answered after ${answer.ms.toFixed(0)} ms, past the ${deadlineMs} ms deadline + ${SLACK_MS} ms`,
  );
  assert.doesNotMatch(answer.message, INTERNALS, `${what}: the message names an internal address`);
}

const sandboxCall = (method: string, path: string, body?: unknown) =>
  sandboxControl(sandbox.httpUrl, path, body, method);

/** Runs `body` with session's Redis frozen (SIGSTOP), always thawing it after. */
async function withSessionRedisFrozen(body: () => Promise<void>) {
  sessionRedis.pause();
  try {
    await body();
  } finally {
    sessionRedis.resume();
  }
}

/** A well-formed session token no session has: resolving it still reads Redis. */
const unknownToken = (openid: string) =>
  `${openid}.${randomBytes(16).toString('base64url').slice(0, 22)}.${randomBytes(32).toString('base64url').slice(0, 43)}`;

const LOGIN = AuthVerifyService.method.login;
const ports = {
  grpc: (method: Unary, request: object, timeoutMs: number, headers?: Record<string, string>) =>
    grpcCall(auth.grpcAddress, method, request as never, timeoutMs, headers),
  http: (method: Unary, request: object, timeoutMs: number, headers?: Record<string, string>) =>
    connectCall(auth.httpUrl, method, request as never, timeoutMs, headers),
};

for (const port of ['grpc', 'http'] as const) {
  test(`${port} port, slow WeChat: Login with a 500 ms deadline is DeadlineExceeded at 500 ms and its js_code stays unspent`, async (t) => {
    const openid = `o_${RUN}_slow_wechat_${port}`;
    const fixture = await sandboxCall('POST', '/sandbox/mp/js-codes', { appid: APPID, openid });
    const jsCode = fixture!.js_code as string;
    await sandboxCall('POST', '/sandbox/faults', { path: '/sns/jscode2session', delayMs: 1_500 });
    try {
      const late = await ports[port](LOGIN, { appid: APPID, jsCode }, 500);
      assertDeadline(t, late, 500, `Login on the ${port} port`);
      // The same code again, behind the same delay: it reaches the sandbox after the first call's
      // delay has run out, so had the first been processed (code spent) this one would be refused.
      const again = await ports[port](LOGIN, { appid: APPID, jsCode }, 20_000);
      assert.equal(again.code, 0, `the code was spent by the call past its deadline: ${again.message}`);
      const login =
        port === 'grpc'
          ? fromBinary(LOGIN.output, again.body as Uint8Array)
          : (again.body as { openid: string });
      assert.equal(login.openid, openid);
    } finally {
      await sandboxCall('DELETE', '/sandbox/faults');
    }
    const listed = await grpcCall(
      session.grpcAddress,
      SessionService.method.listSessions,
      { openid },
      10_000,
      { 'x-wxmesh-peer': 'operator' },
    );
    assert.equal(listed.code, 0, listed.message);
    const { sessions } = fromBinary(SessionService.method.listSessions.output, listed.body as Uint8Array);
    assert.equal(sessions.length, 1, 'only the login that was answered created a session');
  });
}

test('frozen Redis: session’s GetSession (grpc) and ListSessions (http) with a 1 s deadline end at 1 s', async (t) => {
  const openid = `o_${RUN}_frozen`;
  await withSessionRedisFrozen(async () => {
    const get = await grpcCall(
      session.grpcAddress,
      SessionService.method.getSession,
      { sessionToken: unknownToken(openid) },
      1_000,
      { 'x-wxmesh-peer': 'auth-verify' },
    );
    assertDeadline(t, get, 1_000, 'GetSession on the grpc port');
    const list = await connectCall(session.httpUrl, SessionService.method.listSessions, {}, 1_000, {
      'x-wx-openid': openid,
      'x-wx-appid': APPID,
    });
    assertDeadline(t, list, 1_000, 'ListSessions on the http port');
  });
});

for (const port of ['grpc', 'http'] as const) {
  test(`${port} port, slow peer: auth-verify’s VerifySession while session hangs on its frozen Redis ends at 1 s`, async (t) => {
    const token = unknownToken(`o_${RUN}_slow_peer_${port}`);
    await withSessionRedisFrozen(async () => {
      const verify = await ports[port](
        AuthVerifyService.method.verifySession,
        { sessionToken: token },
        1_000,
      );
      assertDeadline(t, verify, 1_000, `VerifySession on the ${port} port`);
    });
  });
}

test('a Kafka send takes the remaining budget: a hung broker ends the wait at the deadline, and nothing is sent after it', async (t) => {
  // A broker of this test's own: the shared one is never frozen.
  let broker: KafkaBroker | undefined;
  try {
    broker = await startKafka();
    const kafka = new kafkajs.Kafka({
      clientId: 'deadlines-spec',
      brokers: broker.brokers.split(','),
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const topic = `wxmesh.behaviour.v1.deadlines-${RUN}`;
    await ensureBehaviourTopics(kafka, { topic, dlqTopic: `${topic}.dlq`, partitions: 1 });
    const producer = createEventProducer({ kafka, producer: 'auth-verify', topic });
    await producer.connect();
    const event = (n: number) =>
      behaviourEvent({
        eventId: `deadline-${RUN}-${n}`,
        aggregateId: `user:o_${RUN}`,
        occurredAt: Date.now(),
        producer: 'auth-verify',
        wechat: { openid: `o_${RUN}`, appid: APPID },
        payload: { case: 'userLoggedIn', value: { sessionId: `s${n}` } },
      });
    // Set-up, not under test: a fresh broker on a busy machine may take long to take the first send.
    await producer.emit(event(1));

    const expired = new AbortController();
    expired.abort(new Error('deadline already passed'));
    await assert.rejects(producer.emitWithin(expired.signal, event(2)), /deadline already passed/);

    broker.pause();
    try {
      const started = performance.now();
      await assert.rejects(producer.emitWithin(AbortSignal.timeout(500), event(3)), { name: 'TimeoutError' });
      const ms = performance.now() - started;
      t.diagnostic(`the emit to a hung broker rejected after ${ms.toFixed(1)} ms (budget 500 ms)`);
      assert.ok(ms <= 500 + SLACK_MS, `the send was waited for ${ms.toFixed(0)} ms, past its 500 ms budget`);
    } finally {
      broker.resume();
    }
    await producer.disconnect();
    // What reached the topic: the first event, perhaps the cut-short one (kafkajs cannot withdraw
    // a queued send), never the one whose budget was spent before it started.
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const written = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    const seen = await collectTopic(broker.brokers, topic, {
      keyPrefix: `o_${RUN}`,
      keep: (value) => decodeBehaviourEvent(value).eventId,
    });
    try {
      await waitFor(() => seen.records.length >= written, { message: `the ${written} records on ${topic}` });
    } finally {
      await seen.stop();
    }
    assert.ok(seen.records.includes(`deadline-${RUN}-1`));
    assert.ok(!seen.records.includes(`deadline-${RUN}-2`), 'an emit past its deadline sent nothing');
  } finally {
    await broker?.stop();
  }
});
