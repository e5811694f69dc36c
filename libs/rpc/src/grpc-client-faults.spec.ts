import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { EchoRequestSchema, EchoService } from '@wxmesh/contracts';
import { grpcFrame, rawGrpcCall, waitFor, type RawGrpcAnswer } from '@wxmesh/testing';
import { Registry } from 'prom-client';
import { clientFaultStatus } from './grpc-client-faults.js';
import { createLogger, defineService, RpcServer } from './index.js';

// The grpc port against raw HTTP/2 requests, the way a broken or hostile client sends them: every
// client fault grpc-js detects on its own must come back INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for
// size), with a message naming the fault, and must never reach the handler. These pin grpc-js'
// wording too: if an upgrade changes it, the rewrite stops matching and these fail.

const ECHO = '/wxmesh.echo.v1.EchoService/Echo';
const ECHO_STREAM = '/wxmesh.echo.v1.EchoService/EchoStream';
const MAX = 64 * 1024;

let server: RpcServer;
const registry = new Registry();
let session: ClientHttp2Session;
let handled = 0;
let abortReason: unknown;

const frame = (payload: Uint8Array, compressed = false) => grpcFrame(payload, { compressed });

const echoRequest = (init: { message?: string; delayMs?: number } = {}) =>
  toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'hi', ...init }));

/** One request with a hand-made body on this file's session. */
const rawCall = (path: string, body: Buffer, headers: Record<string, string> = {}) =>
  rawGrpcCall(session, path, body, headers);

before(async () => {
  const counting = defineService(EchoService, {
    echo: async (request, ctx) => {
      handled++;
      if (request.delayMs > 0) {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, request.delayMs);
          const onAbort = () => {
            clearTimeout(timer);
            abortReason = ctx.signal.reason;
            reject(ctx.signal.reason as Error);
          };
          if (ctx.signal.aborted) onAbort();
          else ctx.signal.addEventListener('abort', onAbort);
        });
      }
      return { message: request.message };
    },
    async *echoStream(request) {
      handled++;
      yield { message: request.message };
    },
  });
  server = new RpcServer({
    name: 'client-faults-test',
    services: [counting],
    logger: createLogger({ name: 'client-faults-test', level: 'silent' }),
    registry,
    callers: { behindGateway: false, peerIdentity: 'declared' },
    limits: { maxRequestBytes: MAX },
  });
  session = connect(`http://127.0.0.1:${(await server.start()).grpcPort}`);
});
after(async () => {
  session.close();
  await server.shutdown();
});

/** Runs `call` and checks that it never reached the handler. */
async function unhandled(call: () => Promise<RawGrpcAnswer>): Promise<RawGrpcAnswer> {
  const before = handled;
  const answer = await call();
  assert.equal(handled, before, `the handler ran for: ${answer.message}`);
  return answer;
}

describe('client garbage is InvalidArgument, saying what was wrong', () => {
  test('bytes that are not the request message', async () => {
    const answer = await unhandled(() => rawCall(ECHO, frame(Buffer.from([0xff, 0xff, 0xff, 0xff]))));
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
    assert.match(answer.message, /^request is not a valid wxmesh\.echo\.v1\.EchoRequest: .+/);
  });

  test('the same on a server stream', async () => {
    const answer = await unhandled(() => rawCall(ECHO_STREAM, frame(Buffer.from([0x0a, 0x10, 0x41]))));
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
    assert.match(answer.message, /^request is not a valid wxmesh\.echo\.v1\.EchoRequest: premature EOF/);
  });

  test('a grpc-timeout that is not a timeout', async () => {
    const answer = await unhandled(() => rawCall(ECHO, frame(echoRequest()), { 'grpc-timeout': 'soon' }));
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
    assert.match(answer.message, /^grpc-timeout "soon" is not a valid timeout/);
  });

  test('a gzip-flagged message that is not gzip', async () => {
    const body = frame(Buffer.from('certainly not gzip'), true);
    const answer = await unhandled(() => rawCall(ECHO, body, { 'grpc-encoding': 'gzip' }));
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
    assert.match(answer.message, /could not be decompressed: its bytes are not valid gzip data/);
  });

  test('a compressed flag without grpc-encoding: the bytes are not the message', async () => {
    const answer = await unhandled(() => rawCall(ECHO, frame(gzipSync(echoRequest()), true)));
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
    assert.match(answer.message, /^request is not a valid wxmesh\.echo\.v1\.EchoRequest: /);
  });

  for (const [path, kind] of [
    [ECHO, 'unary'],
    [ECHO_STREAM, 'server stream'],
  ] as const) {
    test(`${kind}: no message, a truncated one, two messages`, async () => {
      const empty = await unhandled(() => rawCall(path, Buffer.alloc(0)));
      const truncated = await unhandled(() => rawCall(path, frame(echoRequest()).subarray(0, 8)));
      const doubled = await unhandled(() =>
        rawCall(path, Buffer.concat([frame(echoRequest()), frame(echoRequest())])),
      );
      for (const answer of [empty, truncated, doubled])
        assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
      const none = `${path} takes exactly one request message; the call ended without a complete one (empty or truncated body)`;
      assert.equal(empty.message, none);
      assert.equal(truncated.message, none);
      assert.equal(doubled.message, `${path} takes exactly one request message; the call sent more than one`);
    });
  }

  test('grpc.health.v1 (proto-loader codecs) too', async () => {
    const path = '/grpc.health.v1.Health/Check';
    const answer = await rawCall(path, frame(Buffer.from([0xff, 0xff, 0xff])));
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(answer.message, `request is not a valid protobuf message for ${path}`);
  });
});

describe('size limits hold before and after decompression', () => {
  test('a message declared over the limit is refused before it is read', async () => {
    const head = frame(Buffer.alloc(0));
    head.writeUInt32BE(MAX + 1, 1);
    const answer = await unhandled(() => rawCall(ECHO, Buffer.concat([head, Buffer.alloc(1024)])));
    assert.equal(answer.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(answer.message, /^Received message larger than max/);
  });

  test('a small gzip message that inflates past the limit', async () => {
    const bomb = gzipSync(Buffer.alloc(MAX * 64));
    assert.ok(bomb.length < MAX / 8, 'the bomb itself is small');
    const answer = await unhandled(() => rawCall(ECHO, frame(bomb, true), { 'grpc-encoding': 'gzip' }));
    assert.equal(answer.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(answer.message, /decompresses to a size larger than/);
  });
});

describe('deadlines', () => {
  test('a call whose deadline has passed on arrival is DeadlineExceeded without running the handler', async () => {
    for (const timeout of ['0n', '0m', '1u']) {
      const answer = await unhandled(() => rawCall(ECHO, frame(echoRequest()), { 'grpc-timeout': timeout }));
      assert.equal(answer.code, grpc.status.DEADLINE_EXCEEDED, `${timeout}: ${answer.message}`);
    }
  });

  test('the signal a handler gets fires at the deadline with a DeadlineExceeded ConnectError', async () => {
    abortReason = undefined;
    // Long enough that the handler starts on a busy machine (one that starts after its deadline
    // is refused before it runs), short against the handler's delay.
    const answer = await rawCall(ECHO, frame(echoRequest({ delayMs: 10_000 })), { 'grpc-timeout': '500m' });
    assert.equal(answer.code, grpc.status.DEADLINE_EXCEEDED);
    // grpc-js' own deadline timer may answer a moment before the handler's signal fires.
    await waitFor(() => abortReason !== undefined, {
      timeoutMs: 5_000,
      message: 'the handler saw its signal fire',
    });
    // Not a DOMException whose mapping depends on comparing clocks that round differently.
    assert.ok(abortReason instanceof ConnectError, `abort reason: ${String(abortReason)}`);
    assert.equal(abortReason.code, Code.DeadlineExceeded);
  });

  test('a handler that fails because its deadline fired answers DeadlineExceeded, every time', async () => {
    const before = await recordedCodes();
    const answers: RawGrpcAnswer[] = [];
    // Rounds of 50 concurrent calls whose deadlines (30–79 ms) pass while their handlers wait.
    for (let round = 0; round < 8; round++) {
      const timeouts = Array.from({ length: 50 }, (_, i) => `${30 + i}m`);
      answers.push(
        ...(await Promise.all(
          timeouts.map((t) => rawCall(ECHO, frame(echoRequest({ delayMs: 2_000 })), { 'grpc-timeout': t })),
        )),
      );
    }
    assert.deepEqual(
      answers.filter((a) => a.code !== grpc.status.DEADLINE_EXCEEDED),
      [],
    );
    // What the server itself recorded: grpc-js answers at the deadline on its own and tells the
    // handler only 'cancelled'; the kit must still count (and not log as a fault) a DeadlineExceeded.
    await waitFor(async () => (await inFlight()) === 0, { timeoutMs: 10_000, message: 'no call in flight' });
    const after = await recordedCodes();
    const recorded = Object.fromEntries(
      Object.entries(after)
        .map(([code, n]) => [code, n - (before[code] ?? 0)])
        .filter(([, n]) => n !== 0),
    );
    assert.deepEqual(Object.keys(recorded), ['deadline_exceeded'], JSON.stringify(recorded));
    assert.ok(recorded.deadline_exceeded! > answers.length / 2, 'most handlers ran and saw their deadline');
  });
});

async function inFlight(): Promise<number> {
  const metric = await registry.getSingleMetric('wxmesh_rpc_server_in_flight')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

/** Calls the server's metrics recorded, by code. */
async function recordedCodes(): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('wxmesh_rpc_server_duration_seconds')!.get();
  const codes: Record<string, number> = {};
  for (const value of metric.values) {
    if (
      (value as { metricName?: string }).metricName !== 'wxmesh_rpc_server_duration_seconds_count' ||
      value.value === 0
    )
      continue;
    const code = String(value.labels.code);
    codes[code] = (codes[code] ?? 0) + value.value;
  }
  return codes;
}

test('the rewrite touches only the exact statuses it knows', () => {
  const call = { path: ECHO, encoding: 'identity' };
  for (const status of [
    { code: grpc.status.INTERNAL, details: 'internal error' },
    { code: grpc.status.INTERNAL, details: 'Failed to decompress message, really' },
    { code: grpc.status.UNIMPLEMENTED, details: `${ECHO} is not implemented` },
    { code: grpc.status.UNKNOWN, details: 'Received no request message for server streaming method x' },
    { code: grpc.status.RESOURCE_EXHAUSTED, details: 'Received message larger than max (9 vs 8)' },
  ]) {
    assert.equal(clientFaultStatus(status, call), status);
  }
});
