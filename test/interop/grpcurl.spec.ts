// grpcurl, a client the project did not write, against every service as real processes (with Redis,
// Kafka and the WeChat sandbox), knowing nothing but what server reflection tells it: it lists,
// describes every service and every method's input and output type, and calls a method of each
// service with a JSON body it encodes from the reflected schema. Then deadlines on the grpc port:
// 1,000 expired calls per service answer DeadlineExceeded, every one of them, and so do grpcurl's
// own `-max-time` runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary, type DescService } from '@bufbuild/protobuf';
import {
  AuthVerifyService,
  BehaviourViewService,
  EchoRequestSchema,
  EchoService,
  MessageRouterService,
  PaymentService,
  SessionService,
} from '@wxmesh/contracts';
import {
  ensureGrpcurl,
  freePort,
  startInfra,
  startServiceProcess,
  startServiceProcesses,
  type Infra,
  type ServiceProcess,
  type StartServiceOptions,
  stopProcesses,
  waitFor,
  grpcFrame,
  rawGrpcCall,
  type RawGrpcAnswer,
} from '@wxmesh/testing';
import { payKeys } from '../support/pay-keys.js';

const APPID = 'wx5c1a7e3b9d2f4a60';
const OPENID = `oGrpcurl_${randomBytes(4).toString('hex')}`;
const EXPIRED_CALLS = 1_000;
const HEALTH = 'grpc.health.v1.Health';

type Domain = 'session' | 'auth-verify' | 'payment-callback' | 'behaviour-projector' | 'message-router';
const SERVICES: Record<Domain, DescService> = {
  session: SessionService,
  'auth-verify': AuthVerifyService,
  'payment-callback': PaymentService,
  'behaviour-projector': BehaviourViewService,
  'message-router': MessageRouterService,
};
const DOMAINS = Object.keys(SERVICES) as Domain[];

let grpcurlPath: string;
let infra: Infra<{ redis: true; kafka: true }> | undefined;
let sandbox: ServiceProcess;
const running = {} as Record<Domain, ServiceProcess>;
const children: ServiceProcess['child'][] = [];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `grpcurl -plaintext [flags] <address> [command...]`; never rejects, so a test can read its exit
 * code (64 + the gRPC code for an RPC error) and output.
 */
function grpcurl(address: string, command: readonly string[], flags: readonly string[] = []): Promise<Run> {
  return new Promise((resolve) =>
    execFile(grpcurlPath, ['-plaintext', ...flags, address, ...command], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** A call through reflection: the method's request encoded by grpcurl from `body` (JSON). */
function call(domain: Domain, method: string, body: unknown, headers: readonly string[] = []): Promise<Run> {
  const flags = [...headers.flatMap((h) => ['-H', h]), '-d', JSON.stringify(body)];
  return grpcurl(running[domain].grpcAddress, [method], flags);
}

const starting = (env: Record<string, string>): StartServiceOptions => ({
  env: { SHUTDOWN_GRACE_MS: '2000', ...env },
  timeoutMs: 180_000,
  onSpawn: (child) => children.push(child),
});

before(async () => {
  grpcurlPath = await ensureGrpcurl();
  infra = await startInfra({ redis: true, kafka: true });
  const dir = mkdtempSync(join(tmpdir(), 'wxmesh-grpcurl-'));
  const appSecret = randomBytes(16).toString('hex');
  writeFileSync(join(dir, 'app-secret'), `${APPID}=${appSecret}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  const pay = await payKeys(join(dir, 'pay'));
  const shared = { REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers };
  sandbox = await startServiceProcess(
    'wechat-sandbox',
    starting({ ...shared, ...pay.sandbox, SANDBOX_APPS: `${APPID}:${appSecret}` }),
  );
  running.session = await startServiceProcess('session', starting(shared));
  const wechat = { WECHAT_API_BASE_URL: sandbox.httpUrl };
  running['auth-verify'] = await startServiceProcess(
    'auth-verify',
    starting({
      ...shared,
      ...wechat,
      SESSION_ADDR: running.session.grpcAddress,
      WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
      SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    }),
  );
  const viaAuth = { ...shared, AUTH_VERIFY_ADDR: running['auth-verify'].grpcAddress };
  const paymentHttp = await freePort();
  const [payment, projector, router] = await startServiceProcesses([
    {
      name: 'payment-callback',
      options: starting({
        ...viaAuth,
        ...pay.paymentCallback,
        WECHATPAY_BASE_URL: sandbox.httpUrl,
        WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${paymentHttp}/webhooks/wechatpay/notify`,
        HTTP_PORT: String(paymentHttp),
      }),
    },
    { name: 'behaviour-projector', options: starting(viaAuth) },
    {
      name: 'message-router',
      options: starting({ ...viaAuth, ...wechat, SESSION_ADDR: running.session.grpcAddress }),
    },
  ]);
  Object.assign(running, {
    'payment-callback': payment,
    'behaviour-projector': projector,
    'message-router': router,
  });
});

after(async () => {
  await stopProcesses(children);
  await infra?.stop();
});

describe('grpcurl through reflection', () => {
  for (const domain of DOMAINS) {
    const service = SERVICES[domain];

    test(`${domain}: list shows its services, and each one's methods`, async () => {
      const { grpcAddress } = running[domain];
      const listed = await grpcurl(grpcAddress, ['list']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        listed.stdout.trim().split('\n').sort(),
        [service.typeName, EchoService.typeName, HEALTH].sort(),
      );
      const methods = await grpcurl(grpcAddress, ['list', service.typeName]);
      assert.equal(methods.code, 0, methods.stderr);
      assert.deepEqual(
        methods.stdout.trim().split('\n').sort(),
        service.methods.map((m) => `${service.typeName}.${m.name}`).sort(),
      );
    });

    test(`${domain}: describe every service, and every method's input and output type`, async () => {
      const { grpcAddress } = running[domain];
      for (const described of [service, EchoService]) {
        const run = await grpcurl(grpcAddress, ['describe', described.typeName]);
        assert.equal(run.code, 0, `${described.typeName}: ${run.stderr}`);
        assert.match(run.stdout, new RegExp(`^${described.typeName.replaceAll('.', '\\.')} is a service:`));
        for (const method of described.methods) {
          const streaming = method.methodKind === 'server_streaming' ? 'stream ' : '';
          assert.ok(
            run.stdout.includes(
              `rpc ${method.name} ( .${method.input.typeName} ) returns ( ${streaming}.${method.output.typeName} )`,
            ),
            `${described.typeName} describes ${method.name}:\n${run.stdout}`,
          );
        }
      }
      const types = new Set(service.methods.flatMap((m) => [m.input.typeName, m.output.typeName]));
      for (const type of types) {
        const run = await grpcurl(grpcAddress, ['describe', type]);
        assert.equal(run.code, 0, `${type}: ${run.stderr}`);
        assert.match(run.stdout, new RegExp(`^${type.replaceAll('.', '\\.')} is a message:`), run.stdout);
      }
      const health = await grpcurl(grpcAddress, ['describe', HEALTH]);
      assert.equal(health.code, 0, health.stderr);
      assert.match(health.stdout, /rpc Check \( \.grpc\.health\.v1\.HealthCheckRequest \)/);
    });

    test(`${domain}: Echo and Health/Check answer`, async () => {
      const echo = await call(domain, 'wxmesh.echo.v1.EchoService/Echo', { message: `hi ${domain}` });
      assert.equal(echo.code, 0, echo.stderr);
      assert.equal((JSON.parse(echo.stdout) as { message: string }).message, `hi ${domain}`);
      const health = await call(domain, `${HEALTH}/Check`, { service: service.typeName });
      assert.equal(health.code, 0, health.stderr);
      assert.deepEqual(JSON.parse(health.stdout), { status: 'SERVING' });
    });
  }

  test('session: CreateSession and GetSession as auth-verify, the peer the proto allows', async () => {
    const asAuth = ['x-wxmesh-peer: auth-verify'];
    const created = await call(
      'session',
      'wxmesh.session.v1.SessionService/CreateSession',
      { appid: APPID, openid: OPENID, attributes: { client: 'grpcurl' } },
      asAuth,
    );
    assert.equal(created.code, 0, created.stderr);
    const { sessionToken, session } = JSON.parse(created.stdout) as {
      sessionToken: string;
      session: { sessionId: string };
    };
    const got = await call(
      'session',
      'wxmesh.session.v1.SessionService/GetSession',
      { session_token: sessionToken },
      asAuth,
    );
    assert.equal(got.code, 0, got.stderr);
    const answer = JSON.parse(got.stdout) as {
      session: { sessionId: string; openid: string; attributes: object };
    };
    assert.equal(answer.session.sessionId, session.sessionId);
    assert.equal(answer.session.openid, OPENID);
    assert.deepEqual(answer.session.attributes, { client: 'grpcurl' }, 'a map field round-trips');
  });

  test('auth-verify: GetAccessToken as message-router', async () => {
    const run = await call(
      'auth-verify',
      'wxmesh.auth.v1.AuthVerifyService/GetAccessToken',
      { appid: APPID },
      ['x-wxmesh-peer: message-router'],
    );
    assert.equal(run.code, 0, run.stderr);
    assert.ok((JSON.parse(run.stdout) as { accessToken: string }).accessToken.length > 0);
  });

  test('behaviour-projector: GetFunnel as the operator', async () => {
    const run = await call(
      'behaviour-projector',
      'wxmesh.behaviour.v1.BehaviourViewService/GetFunnel',
      { appid: APPID, start_date: '2026-01-01', end_date: '2026-01-03' },
      ['x-wxmesh-peer: operator'],
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { days: unknown[] }).days.length, 3);
  });

  test('payment-callback and message-router: unknown records are NotFound, named', async () => {
    const asBackend = ['x-wxmesh-peer: business-backend'];
    const payment = await call(
      'payment-callback',
      'wxmesh.payment.v1.PaymentService/GetPayment',
      { out_trade_no: 'grpcurl-none-1' },
      asBackend,
    );
    assert.equal(payment.code, 64 + grpc.status.NOT_FOUND, payment.stderr);
    assert.match(payment.stderr, /Code: NotFound/);
    assert.match(payment.stderr, /grpcurl-none-1/);
    const delivery = await call(
      'message-router',
      'wxmesh.router.v1.MessageRouterService/GetDelivery',
      { delivery_id: 'dl_grpcurl_none' },
      asBackend,
    );
    assert.equal(delivery.code, 64 + grpc.status.NOT_FOUND, delivery.stderr);
    assert.match(delivery.stderr, /dl_grpcurl_none/);
  });

  test('a body that breaks the reflected schema is refused by grpcurl itself, naming the field', async () => {
    const run = await call('session', 'wxmesh.echo.v1.EchoService/Echo', { no_such_field: 1 });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /no_such_field/);
  });
});

/** One Echo on a raw HTTP/2 stream with only `grpc-timeout`: the status is the server's own, never a client timer's. */
function expiredEcho(session: ReturnType<typeof connect>, timeout: string): Promise<RawGrpcAnswer> {
  const body = toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'late', delayMs: 2_000 }));
  return rawGrpcCall(session, '/wxmesh.echo.v1.EchoService/Echo', grpcFrame(body), {
    'grpc-timeout': timeout,
  });
}

/** Echo calls the process has recorded in its metrics, by code, and the calls now in flight. */
async function echoOutcomes(httpUrl: string): Promise<{ codes: Record<string, number>; inFlight: number }> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const codes: Record<string, number> = {};
  const counted =
    /^wxmesh_rpc_server_duration_seconds_count\{[^}]*rpc_method="Echo",protocol="grpc",code="([a-z_]+)"\} (\d+)$/gm;
  for (const [, code, n] of text.matchAll(counted)) codes[code!] = Number(n);
  const inFlight = /^wxmesh_rpc_server_in_flight (\d+)$/m.exec(text);
  return { codes, inFlight: Number(inFlight?.[1] ?? 0) };
}

/** Runs `count` calls, `concurrency` at a time. */
async function batch<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await one(i);
      }
    }),
  );
  return results;
}

/** Tallies answers by code name, e.g. `{ DEADLINE_EXCEEDED: 1000 }`. */
const tally = (codes: readonly number[]) =>
  codes.reduce<Record<string, number>>(
    (t, c) => ({ ...t, [grpc.status[c]!]: (t[grpc.status[c]!] ?? 0) + 1 }),
    {},
  );

describe('deadlines on the grpc port', () => {
  for (const domain of ['session', 'auth-verify'] as const) {
    test(`${domain}: ${EXPIRED_CALLS} expired calls are all DeadlineExceeded (raw HTTP/2, the server's own answer)`, async () => {
      const session = connect(`http://${running[domain].grpcAddress}`);
      try {
        // 20–69 ms: deadlines that expire while the handler waits, spread over timer rounding.
        const before = await echoOutcomes(running[domain].httpUrl);
        const answers = await batch(EXPIRED_CALLS, 50, (i) => expiredEcho(session, `${20 + (i % 50)}m`));
        assert.deepEqual(tally(answers.map((a) => a.code)), { DEADLINE_EXCEEDED: EXPIRED_CALLS });
        // The server's own record (metrics, and so alerts on Internal) agrees with what callers saw.
        await waitFor(async () => (await echoOutcomes(running[domain].httpUrl)).inFlight === 0, {
          timeoutMs: 10_000,
          message: 'no call in flight',
        });
        const recorded = (await echoOutcomes(running[domain].httpUrl)).codes;
        const grown = Object.keys(recorded).filter((code) => recorded[code] !== before.codes[code]);
        assert.deepEqual(grown, ['deadline_exceeded'], JSON.stringify({ before: before.codes, recorded }));
      } finally {
        session.close();
      }
    });
  }

  test(`session: ${EXPIRED_CALLS} expired calls from a generic grpc-js client are all DeadlineExceeded`, async () => {
    const client = new grpc.Client(running.session.grpcAddress, grpc.credentials.createInsecure());
    try {
      const request = Buffer.from(
        toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'late', delayMs: 2_000 })),
      );
      const codes = await batch(
        EXPIRED_CALLS,
        50,
        (i) =>
          new Promise<number>((resolve) =>
            client.makeUnaryRequest(
              '/wxmesh.echo.v1.EchoService/Echo',
              (b: Buffer) => b,
              (b: Buffer) => b,
              request,
              new grpc.Metadata(),
              { deadline: Date.now() + 20 + (i % 50) },
              (err) => resolve(err ? err.code : grpc.status.OK),
            ),
          ),
      );
      assert.deepEqual(tally(codes), { DEADLINE_EXCEEDED: EXPIRED_CALLS });
    } finally {
      client.close();
    }
  });

  test('grpcurl -max-time runs end DeadlineExceeded', async () => {
    for (const domain of ['session', 'auth-verify'] as const) {
      for (let i = 0; i < 3; i++) {
        const run = await grpcurl(
          running[domain].grpcAddress,
          ['wxmesh.echo.v1.EchoService/Echo'],
          ['-max-time', '1.5', '-d', JSON.stringify({ message: 'late', delay_ms: 5_000 })],
        );
        assert.equal(run.code, 64 + grpc.status.DEADLINE_EXCEEDED, `${domain}: ${run.stderr}`);
        assert.match(run.stderr, /Code: DeadlineExceeded/);
      }
    }
  });
});
