// Bad input on the grpc port of real service processes (session and auth-verify, with Redis and
// Kafka): property-based garbage for protobuf bodies, messages over the size limit, a small gzip
// message that inflates past it, a bad grpc-timeout, a compressed flag without grpc-encoding, a
// garbage gzip body, truncated and doubled unary messages. Every one gets its precise status and a
// message saying what was wrong (a client's garbage is never Internal); the process never crashes
// (still running, /healthz 200); its RSS grows by less than 64 MB for the size cases; and Echo on
// the same process answers within 100 ms throughout, measured while the bad input is in flight.
//
// Requests are raw HTTP/2 frames (node:http2), the only way to send what no gRPC library would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import {
  AuthVerifyService,
  EchoRequestSchema,
  GetSessionRequestSchema,
  SessionService,
  VerifySessionRequestSchema,
} from '@wxmesh/contracts';
import {
  loadScaledBound,
  startInfra,
  startServiceProcess,
  type Infra,
  type ServiceProcess,
  grpcFrame,
  rawGrpcCall,
  type RawGrpcAnswer,
} from '@wxmesh/testing';
import fc from 'fast-check';

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const HUNDRED_MB = 100 * 1024 * 1024;
/** The bounds. */
const RSS_GROWTH_LIMIT = 64 * 1024 * 1024;
const ECHO_LIMIT_MS = loadScaledBound(100);
const FUZZ_RUNS = 120;
const ECHO = '/wxmesh.echo.v1.EchoService/Echo';
/** Codes that would blame the server (or the method) for a client's bytes. */
const SERVER_FAULTS = new Set([
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.UNIMPLEMENTED,
  grpc.status.DATA_LOSS,
]);

/** A unary method a fuzzed body is sent to, as a caller it admits (so the body is what is judged). */
interface Target {
  readonly path: string;
  readonly input: DescMessage;
  readonly headers: Record<string, string>;
}

interface Under {
  readonly name: 'session' | 'auth-verify';
  readonly target: Target;
}

const services: readonly Under[] = [
  {
    name: 'session',
    target: {
      path: `/${SessionService.typeName}/${SessionService.method.getSession.name}`,
      input: GetSessionRequestSchema,
      headers: { 'x-wxmesh-peer': 'auth-verify' },
    },
  },
  {
    name: 'auth-verify',
    target: {
      path: `/${AuthVerifyService.typeName}/${AuthVerifyService.method.verifySession.name}`,
      input: VerifySessionRequestSchema,
      headers: {},
    },
  },
];

let infra: Infra<{ redis: true; kafka: true }> | undefined;
const children: ServiceProcess['child'][] = [];
const running = new Map<Under['name'], ServiceProcess>();
const processOf = (under: Under) => running.get(under.name)!;

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  const dir = mkdtempSync(join(tmpdir(), 'wxmesh-bad-input-grpc-'));
  writeFileSync(join(dir, 'app-secret'), `wx0123456789abcdef=${randomBytes(16).toString('hex')}\n`);
  writeFileSync(join(dir, 'encryption-key'), randomBytes(32).toString('base64'));
  const shared = { REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers };
  const start = (name: string, env: Record<string, string>) =>
    startServiceProcess(name, { env, timeoutMs: 180_000, onSpawn: (child) => children.push(child) });
  const session = await start('session', shared);
  const auth = await start('auth-verify', {
    ...shared,
    SESSION_ADDR: session.grpcAddress,
    // No WeChat is needed: nothing here reaches it (a call that did would fail Unavailable).
    WECHAT_API_BASE_URL: 'http://127.0.0.1:9',
    WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
    SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
  });
  running.set('session', session).set('auth-verify', auth);
});

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await infra?.stop();
});

const echoBody = grpcFrame(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'ping' })));

/**
 * Echo, every 10 ms, on its own connection and in its own thread (so this file's own work of
 * sending 100 MB does not delay the measurement), until stopped; resolves with every latency.
 */
const PROBER = `
const { parentPort, workerData } = require('node:worker_threads');
const http2 = require('node:http2');
const session = http2.connect(workerData.url);
const body = Buffer.from(workerData.body);
const samples = [];
let stopping = false;
parentPort.on('message', () => { stopping = true; });
const echo = () => new Promise((resolve) => {
  const started = performance.now();
  const stream = session.request({ ':method': 'POST', ':path': workerData.path, 'content-type': 'application/grpc', te: 'trailers' });
  let status = -1;
  const take = (h) => { if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']); };
  stream.on('response', take);
  stream.on('trailers', take);
  stream.on('data', () => {});
  stream.on('error', () => {});
  stream.on('close', () => resolve({ ms: performance.now() - started, status }));
  stream.end(body);
});
(async () => {
  while ((await echo()).status !== 0) await new Promise((r) => setTimeout(r, 20));
  parentPort.postMessage('ready');
  while (!stopping) {
    samples.push(await echo());
    await new Promise((r) => setTimeout(r, 10));
  }
  session.close();
  parentPort.postMessage(samples);
})();
`;

/** The process's resident set size, from /proc. */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(kb, `VmRSS of ${pid}`);
  return Number(kb[1]) * 1024;
}

/**
 * Runs `work` against `under` while Echo is probed and RSS sampled; then checks the process is
 * alive and healthy, Echo answered OK within {@link ECHO_LIMIT_MS} every time, and (when
 * `rssLimit` is given) RSS never grew by more than it over the baseline taken just before.
 */
async function whileWatched<T>(under: Under, work: () => Promise<T>, rssLimit?: number): Promise<T> {
  const pid = processOf(under).child.pid!;
  const prober = new Worker(PROBER, {
    eval: true,
    workerData: { url: `http://${processOf(under).grpcAddress}`, path: ECHO, body: echoBody },
  });
  let result: T;
  let samples: Array<{ ms: number; status: number }>;
  let baseline: number;
  let peak: number;
  try {
    const [ready] = (await once(prober, 'message')) as [string];
    assert.equal(ready, 'ready');
    baseline = peak = rssOf(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 10);
    try {
      result = await work();
    } finally {
      clearInterval(sampler);
    }
    prober.postMessage('stop');
    [samples] = (await once(prober, 'message')) as [typeof samples];
  } finally {
    await prober.terminate();
  }
  peak = Math.max(peak, rssOf(pid));

  assert.equal(processOf(under).child.exitCode, null, `${under.name} is still running`);
  assert.equal((await fetch(`${processOf(under).httpUrl}/healthz`)).status, 200);
  assert.ok(samples.length > 0, 'Echo was probed while the bad input was in flight');
  assert.deepEqual(
    samples.filter((s) => s.status !== 0),
    [],
    'every Echo answered OK',
  );
  const slowest = Math.max(...samples.map((s) => s.ms));
  assert.ok(slowest < ECHO_LIMIT_MS, `Echo took up to ${slowest.toFixed(1)} ms over ${samples.length} calls`);
  if (rssLimit !== undefined) {
    const growth = peak - baseline;
    assert.ok(growth < rssLimit, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MB`);
  }
  return result;
}

/** What the server must answer for `bytes` as the request of `target`. */
function expectFor(target: Target, bytes: Uint8Array, answer: RawGrpcAnswer): void {
  let reason: string | undefined;
  try {
    fromBinary(target.input, bytes);
  } catch (err) {
    reason = (err as Error).message;
  }
  if (reason !== undefined) {
    assert.deepEqual(answer, {
      code: grpc.status.INVALID_ARGUMENT,
      message: `request is not a valid ${target.input.typeName}: ${reason}`,
    });
  } else {
    // Bytes that happen to decode are judged like any request: by validation or the handler.
    assert.ok(!SERVER_FAULTS.has(answer.code), `${grpc.status[answer.code]}: ${answer.message}`);
  }
}

const varint = (value: number): number[] => {
  const out: number[] = [];
  let n = value >>> 0;
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
};

/**
 * Protobuf-shaped garbage: fields with real and unknown numbers, every wire type (including the
 * invalid 6 and 7 and unbalanced groups), lengths that over- or under-state their payload.
 */
const protobufGarbage = fc
  .array(
    fc.record({
      field: fc.integer({ min: 0, max: 40 }),
      wire: fc.integer({ min: 0, max: 7 }),
      declared: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
      payload: fc.uint8Array({ maxLength: 24 }),
    }),
    { maxLength: 12 },
  )
  .map((fields) =>
    Uint8Array.from(
      fields.flatMap((f) => [
        ...varint((f.field << 3) | f.wire),
        ...(f.wire === 2 ? varint(f.declared ?? f.payload.length) : []),
        ...f.payload,
      ]),
    ),
  );

for (const under of services) {
  describe(`${under.name}: bad input on the grpc port`, () => {
    let session: ClientHttp2Session;
    const call = (path: string, body: Buffer, headers: Record<string, string> = {}) =>
      rawGrpcCall(session, path, body, headers);
    // A connection per test, so one the server closes (as it may for abuse) cannot fail the next.
    // Node's default 10 MB session memory would refuse the 100 MB body on this side.
    beforeEach(() => {
      session = connect(`http://${processOf(under).grpcAddress}`, { maxSessionMemory: 256 });
    });
    afterEach(() => session.close());

    for (const [kind, bodies] of [
      ['random bytes', fc.uint8Array({ minLength: 1, maxLength: 512 })],
      ['protobuf-shaped garbage', protobufGarbage],
    ] as const) {
      test(`${kind} as the request: InvalidArgument naming the decode error, or judged like any request`, async () => {
        const { target } = under;
        await whileWatched(under, () =>
          fc.assert(
            fc.asyncProperty(bodies, async (bytes) => {
              expectFor(target, bytes, await call(target.path, grpcFrame(bytes), target.headers));
            }),
            { numRuns: FUZZ_RUNS },
          ),
        );
      });
    }

    test('a 100 MB message is ResourceExhausted before it is read', async () => {
      const answer = await whileWatched(
        under,
        () => call(ECHO, grpcFrame(Buffer.alloc(HUNDRED_MB, 0x41), { declared: HUNDRED_MB })),
        RSS_GROWTH_LIMIT,
      );
      assert.deepEqual(answer, {
        code: grpc.status.RESOURCE_EXHAUSTED,
        message: `Received message larger than max (${HUNDRED_MB} vs ${MAX_REQUEST_BYTES})`,
      });
    });

    test('a message just over 4 MiB is ResourceExhausted', async () => {
      const answer = await whileWatched(
        under,
        () => call(ECHO, grpcFrame(Buffer.alloc(MAX_REQUEST_BYTES + 1))),
        RSS_GROWTH_LIMIT,
      );
      assert.equal(answer.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(answer.message, /^Received message larger than max/);
    });

    test('a ~100 KB gzip message that inflates to 100 MB is ResourceExhausted (5 in a row)', async () => {
      const bomb = gzipSync(Buffer.alloc(HUNDRED_MB));
      assert.ok(bomb.length < 200 * 1024, `the bomb is ${bomb.length} bytes`);
      const answers = await whileWatched(
        under,
        async () => {
          const all: RawGrpcAnswer[] = [];
          for (let i = 0; i < 5; i++)
            all.push(await call(ECHO, grpcFrame(bomb, { compressed: true }), { 'grpc-encoding': 'gzip' }));
          return all;
        },
        RSS_GROWTH_LIMIT,
      );
      for (const answer of answers) {
        assert.deepEqual(answer, {
          code: grpc.status.RESOURCE_EXHAUSTED,
          message: `Received message that decompresses to a size larger than ${MAX_REQUEST_BYTES}`,
        });
      }
    });

    test('malformed calls are InvalidArgument, saying what was wrong', async () => {
      const { target } = under;
      const valid = grpcFrame(toBinary(target.input, create(target.input)));
      const answers = await whileWatched(under, async () => ({
        timeout: await call(target.path, valid, { ...target.headers, 'grpc-timeout': '1 second' }),
        flagWithoutEncoding: await call(
          target.path,
          grpcFrame(gzipSync(Buffer.from('x')), { compressed: true }),
          target.headers,
        ),
        garbageGzip: await call(target.path, grpcFrame(randomBytes(64), { compressed: true }), {
          ...target.headers,
          'grpc-encoding': 'gzip',
        }),
        empty: await call(target.path, Buffer.alloc(0), target.headers),
        truncated: await call(target.path, grpcFrame(Buffer.alloc(64), { declared: 128 }), target.headers),
        doubled: await call(target.path, Buffer.concat([valid, valid]), target.headers),
      }));
      for (const [name, answer] of Object.entries(answers))
        assert.equal(
          answer.code,
          grpc.status.INVALID_ARGUMENT,
          `${name}: ${grpc.status[answer.code]} ${answer.message}`,
        );
      assert.match(answers.timeout.message, /^grpc-timeout "1 second" is not a valid timeout/);
      assert.match(
        answers.flagWithoutEncoding.message,
        new RegExp(`^request is not a valid ${target.input.typeName}: `),
      );
      assert.match(
        answers.garbageGzip.message,
        /could not be decompressed: its bytes are not valid gzip data/,
      );
      const one = `${target.path} takes exactly one request message`;
      assert.equal(
        answers.empty.message,
        `${one}; the call ended without a complete one (empty or truncated body)`,
      );
      assert.equal(answers.truncated.message, answers.empty.message);
      assert.equal(answers.doubled.message, `${one}; the call sent more than one`);
    });
  });
}
