import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServer } from 'node:net';
import { Code, ConnectError } from '@connectrpc/connect';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { EchoService } from '@wxmesh/contracts';
import { initTelemetry, type Telemetry } from '@wxmesh/telemetry';
import { waitFor } from '@wxmesh/testing';
import { Registry } from 'prom-client';
import {
  createLogger,
  createPeerClient,
  definePeer,
  defineService,
  echoService,
  RpcServer,
  type PeerClient,
} from './index.js';

// Two real servers in one process: `edge` answers Echo by calling `backend` through the kit's
// peer client, so what the backend sees is what the client forwarded.
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let backend: RpcServer;
let edge: RpcServer;
const ECHO = definePeer(EchoService, ['echo', 'echoStream']);
const callers = { behindGateway: true, peerIdentity: 'declared' } as const;
let toBackend: PeerClient<typeof EchoService, 'echo' | 'echoStream'>;
let toEdge: PeerClient<typeof EchoService, 'echo' | 'echoStream'>;
const logger = createLogger({ name: 'client-test', level: 'silent' });

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'client-test', exporter, spanProcessor: 'simple' });
  backend = new RpcServer({
    name: 'backend',
    services: [echoService],
    logger,
    registry: new Registry(),
    callers,
  });
  const backendPorts = await backend.start();
  toBackend = createPeerClient(ECHO, {
    from: 'client-test',
    address: `127.0.0.1:${backendPorts.grpcPort}`,
    breaker: false,
  });
  const relay = defineService(EchoService, {
    echo: (request) =>
      toBackend.echo({
        message: `relayed ${request.message}`,
        delayMs: request.delayMs,
        failCode: request.failCode,
      }),
  });
  edge = new RpcServer({ name: 'edge', services: [relay], logger, registry: new Registry(), callers });
  const edgePorts = await edge.start();
  toEdge = createPeerClient(ECHO, {
    from: 'client-test',
    address: `127.0.0.1:${edgePorts.grpcPort}`,
    breaker: false,
  });
});

after(async () => {
  toBackend.close();
  toEdge.close();
  await edge.shutdown();
  await backend.shutdown();
  await telemetry.shutdown();
});

test('the served call’s WeChat identity reaches the next hop without the handler passing it', async () => {
  const response = await toEdge.echo(
    { message: 'hi' },
    { wechat: { openid: 'o_caller', appid: 'wx1234567890abcdef' } },
  );
  assert.equal(response.message, 'relayed hi');
  assert.equal(response.wechat?.openid, 'o_caller');
  assert.equal(response.wechat?.appid, 'wx1234567890abcdef');
});

test('the caller’s deadline caps the next hop: the backend stops at the edge’s deadline', async () => {
  const started = Date.now();
  await assert.rejects(
    toEdge.echo({ message: 'slow', delayMs: 3000 }, { deadlineMs: 250 }),
    (err: ConnectError) => {
      assert.equal(err.code, Code.DeadlineExceeded);
      return true;
    },
  );
  assert.ok(Date.now() - started < 2000, 'failed at the deadline, not after the backend’s delay');
});

test('one trace spans client → edge → backend', async () => {
  exporter.reset();
  await toEdge.echo({ message: 'traced' });
  // Only the spans of this call's trace: a cancelled call of the previous test may still be ending.
  const spans = await waitFor(
    () => {
      const finished = exporter.getFinishedSpans();
      const root = finished.find((s) => s.kind === 2 && s.parentSpanContext === undefined);
      const trace = root
        ? finished.filter((s) => s.spanContext().traceId === root.spanContext().traceId)
        : [];
      return trace.length >= 4 ? trace : undefined;
    },
    { message: 'the four spans of the traced call' },
  );
  assert.equal(spans.length, 4, 'client, edge server, edge client, backend server');
  const server = spans.filter((s) => s.kind === 1);
  const client = spans.filter((s) => s.kind === 2);
  assert.equal(server.length, 2);
  assert.equal(client.length, 2);
  for (const span of server) {
    const parent = client.find((c) => c.spanContext().spanId === span.parentSpanContext?.spanId);
    assert.ok(parent, `server span ${span.name} has a client span as parent`);
  }
});

test('a dead peer opens the breaker; open calls fail fast without dialling', async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const dead = createPeerClient(ECHO, {
    from: 'client-test',
    address: `127.0.0.1:${port}`,
    breakerName: 'dead-peer',
    defaultDeadlineMs: 500,
    breaker: {
      volumeThreshold: 3,
      errorThresholdPercentage: 50,
      resetTimeout: 60_000,
      registry: new Registry(),
    },
  });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(dead.echo({ message: 'x' }), (err: ConnectError) => {
      assert.equal(err.code, Code.Unavailable);
      assert.equal(
        err.rawMessage,
        'EchoService is unavailable; retry with backoff',
        'no address, no ECONNREFUSED',
      );
      return true;
    });
  }
  const started = performance.now();
  await assert.rejects(dead.echo({ message: 'x' }), { name: 'BreakerOpenError' });
  assert.ok(performance.now() - started < 50, 'rejected without a network attempt');
  dead.close();
});

test('a server stream through the peer client yields every message, then ends', async () => {
  const got: string[] = [];
  for await (const response of toBackend.echoStream(
    { message: 's', repeat: 3 },
    { wechat: { openid: 'o_s' } },
  )) {
    got.push(`${response.message}:${response.wechat?.openid}`);
  }
  assert.deepEqual(got, ['s#0:o_s', 's#1:o_s', 's#2:o_s']);
});

/** What an internal address or grpc-js's timing details look like in a message. */
const INTERNALS = /\d+\.\d+\.\d+\.\d+|remote_addr|LB pick|ECONNREFUSED|:\d{2,5}\b/;

test('a peer call past its deadline names the method, never the peer’s address or timings', async () => {
  await assert.rejects(
    toBackend.echo({ message: 'slow', delayMs: 3000 }, { deadlineMs: 200 }),
    (err: ConnectError) => {
      assert.equal(err.code, Code.DeadlineExceeded);
      assert.equal(err.rawMessage, 'deadline exceeded calling EchoService.Echo');
      assert.doesNotMatch(err.message, INTERNALS);
      return true;
    },
  );
});

test('a peer’s own error keeps its code and message; codes grpc-js also makes up get a safe one', async () => {
  await assert.rejects(toBackend.echo({ message: 'x', failCode: 'failed_precondition' }), {
    code: Code.FailedPrecondition,
    rawMessage: 'echo: failing with failed_precondition as asked',
  });
  await assert.rejects(toBackend.echo({ message: 'x', failCode: 'unavailable' }), {
    code: Code.Unavailable,
    rawMessage: 'EchoService is unavailable; retry with backoff',
  });
  // Relayed through a second hop, the edge's caller sees the backend's code and message.
  await assert.rejects(toEdge.echo({ message: 'x', failCode: 'permission_denied' }), {
    code: Code.PermissionDenied,
    rawMessage: 'echo: failing with permission_denied as asked',
  });
});

test('a call cancelled through its signal fails with the signal’s reason, not “Cancelled on client”', async () => {
  const controller = new AbortController();
  const reason = new ConnectError('deadline exceeded', Code.DeadlineExceeded);
  const call = toBackend.echo({ message: 'slow', delayMs: 3000 }, { signal: controller.signal });
  setTimeout(() => controller.abort(reason), 100);
  await assert.rejects(call, (err: unknown) => err === reason);
  // An already-aborted signal: nothing is sent at all.
  await assert.rejects(
    toBackend.echo({ message: 'x' }, { signal: controller.signal }),
    (err: unknown) => err === reason,
  );
});
