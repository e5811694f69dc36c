import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { EchoRequestSchema, EchoResponseSchema, EchoService, type EchoResponse } from '@wxmesh/contracts';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { Registry } from 'prom-client';
import { initTelemetry } from '@wxmesh/telemetry';
import { waitFor } from '@wxmesh/testing';
import { createLogger, defineService, echoService, RpcServer } from './index.js';

interface HealthClient extends grpc.Client {
  Watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

const healthPkg = grpc.loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
  grpc: {
    health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials) => HealthClient } };
  };
};

test('shutdown: health flips to NOT_SERVING, in-flight calls finish, new calls are refused', async () => {
  const telemetry = await initTelemetry({ serviceName: 'drain-test' });
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'drain-test',
    services: [echoService],
    logger: createLogger({ name: 'drain-test', level: 'silent' }),
    registry: new Registry(),
    shutdownGraceMs: 5_000,
  });
  const { grpcPort, httpPort } = await server.start();
  const address = `127.0.0.1:${grpcPort}`;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const health = new healthPkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());

  const statuses: string[] = [];
  const watch = health.Watch({ service: '' });
  watch.on('data', (r: { status: string }) => statuses.push(r.status));
  watch.on('error', () => {});
  await waitFor(() => statuses.includes('SERVING'), { message: 'Watch reports SERVING' });

  const echo = (delayMs: number) =>
    new Promise<EchoResponse>((resolve, reject) =>
      client.makeUnaryRequest(
        '/wxmesh.echo.v1.EchoService/Echo',
        (b: Buffer) => b,
        (b: Buffer) => fromBinary(EchoResponseSchema, b),
        Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'slow', delayMs }))),
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
  const slow = echo(800);
  await waitFor(
    async () =>
      /wxmesh_rpc_server_in_flight 1/.test(
        await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
      ),
    { message: 'the slow call is in flight' },
  );

  const stopped = server.shutdown();
  await waitFor(() => statuses.includes('NOT_SERVING'), { message: 'Watch reports NOT_SERVING' });
  assert.equal(server.isDraining, true);
  await assert.rejects(echo(0), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);

  assert.equal((await slow).message, 'slow', 'the in-flight call finished normally');
  await stopped;
  client.close();
  health.close();
  await telemetry.shutdown();
});

test('shutdown ends open server streams with Unavailable, telling clients to reconnect', async () => {
  const telemetry = await initTelemetry({ serviceName: 'stream-drain-test' });
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'stream-drain-test',
    services: [echoService],
    logger: createLogger({ name: 'stream-drain-test', level: 'silent' }),
    registry: new Registry(),
  });
  const { grpcPort } = await server.start();
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const stream = client.makeServerStreamRequest(
    '/wxmesh.echo.v1.EchoService/EchoStream',
    (b: Buffer) => b,
    (b: Buffer) => fromBinary(EchoResponseSchema, b),
    Buffer.from(
      toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'live', repeat: 100, delayMs: 50 })),
    ),
  );
  const received: string[] = [];
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  stream.on('data', (m: EchoResponse) => received.push(m.message));
  await waitFor(() => received.length >= 2, { message: 'the stream is flowing' });

  const stopped = server.shutdown();
  const error = await ended;
  assert.equal(error.code, grpc.status.UNAVAILABLE);
  assert.match(error.details, /reconnect/);
  assert.ok(received.length < 100, 'the stream ended early, not by running out');
  await stopped;
  client.close();
  await telemetry.shutdown();
});

test('ctx.abort ends a server stream whose client stopped reading, with the handler’s status', async () => {
  const telemetry = await initTelemetry({ serviceName: 'abort-test' });
  let handlerFinished = false;
  let yielded = 0;
  const flood = defineService(EchoService, {
    async *echoStream(_request, ctx) {
      const big = 'x'.repeat(256 * 1024);
      setTimeout(
        () => ctx.abort(new ConnectError('live channel buffer full', Code.ResourceExhausted)),
        300,
      ).unref();
      try {
        for (;;) {
          yielded++;
          yield { message: big };
        }
      } finally {
        handlerFinished = true;
      }
    },
  });
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'abort-test',
    services: [flood],
    logger: createLogger({ name: 'abort-test', level: 'silent' }),
    registry: new Registry(),
  });
  const { grpcPort } = await server.start();
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const stream = client.makeServerStreamRequest(
    '/wxmesh.echo.v1.EchoService/EchoStream',
    (b: Buffer) => b,
    (b: Buffer) => b,
    Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'flood' }))),
    new grpc.Metadata(),
    { deadline: Date.now() + 20_000 },
  );
  let error: grpc.ServiceError | undefined;
  stream.on('error', (err: grpc.ServiceError) => (error = err));
  stream.pause();
  await waitFor(() => handlerFinished, { message: 'the blocked handler was ended by ctx.abort' });
  assert.ok(yielded < 2000, `the handler stopped while blocked on a slow client (yielded ${yielded})`);
  stream.on('data', () => {});
  stream.resume();
  await waitFor(() => error !== undefined, { timeoutMs: 15_000, message: 'the client sees the stream end' });
  assert.equal(error!.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(error!.details, /buffer full/);
  client.close();
  await server.shutdown();
  await telemetry.shutdown();
});

/** A Connect JSON call to Echo on the http port, answered with its HTTP status and body. */
async function connectEcho(httpPort: number, body: object, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${httpPort}/wxmesh.echo.v1.EchoService/Echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
}

async function readyz(httpPort: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  await response.body?.cancel();
  return response.status;
}

test('drain delay: NOT_SERVING and readyz 503 come first, calls are served through the delay, then refused', async () => {
  const telemetry = await initTelemetry({ serviceName: 'drain-delay-test' });
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'drain-delay-test',
    services: [echoService],
    logger: createLogger({ name: 'drain-delay-test', level: 'silent' }),
    registry: new Registry(),
    drainDelayMs: 1_500,
    shutdownGraceMs: 5_000,
  });
  const { grpcPort, httpPort } = await server.start();
  const health = new healthPkg.grpc.health.v1.Health(
    `127.0.0.1:${grpcPort}`,
    grpc.credentials.createInsecure(),
  );
  const statuses: string[] = [];
  const watch = health.Watch({ service: 'wxmesh.echo.v1.EchoService' });
  watch.on('data', (r: { status: string }) => statuses.push(r.status));
  watch.on('error', () => {});
  await waitFor(() => statuses.includes('SERVING'), { message: 'Watch reports SERVING' });
  assert.equal(await readyz(httpPort), 200);

  const stopped = server.shutdown();
  await waitFor(() => statuses.includes('NOT_SERVING'), { message: 'Watch reports NOT_SERVING' });
  assert.equal(await readyz(httpPort), 503, 'readyz answers 503 while the drain delay runs');
  // Still serving: whoever has not seen the change yet is not refused.
  const during = await connectEcho(httpPort, { message: 'during' });
  assert.equal(during.status, 200, 'a call inside the drain delay is served');
  assert.equal(server.isDraining, false);

  // Refused: Unavailable on a connection still open, or the listener closed to new ones.
  const refused = await waitFor(
    async () => {
      const result = await connectEcho(httpPort, { message: 'late' }).then(
        (answer) => (answer.status === 200 ? undefined : answer.body.code),
        (err: Error) => `connection refused (${err.message})`,
      );
      return result;
    },
    { message: 'calls are refused once the delay is over' },
  );
  assert.match(refused, /^(unavailable|connection refused)/);
  await stopped;
  health.close();
  await telemetry.shutdown();
});

test('grace overrun: calls still running are answered Unavailable on both ports and shutdown rejects', async () => {
  const telemetry = await initTelemetry({ serviceName: 'overrun-test' });
  let started = 0;
  const stubborn = defineService(EchoService, {
    // Ignores its signal on purpose: the answer must leave anyway.
    async echo() {
      started++;
      await new Promise(() => {});
      return { message: 'never' };
    },
  });
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'overrun-test',
    services: [stubborn],
    logger: createLogger({ name: 'overrun-test', level: 'silent' }),
    registry: new Registry(),
    shutdownGraceMs: 400,
  });
  const { grpcPort, httpPort } = await server.start();
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const viaGrpc = new Promise<grpc.ServiceError>((resolve) =>
    client.makeUnaryRequest(
      '/wxmesh.echo.v1.EchoService/Echo',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'stuck' }))),
      (err) => resolve(err!),
    ),
  );
  const viaConnect = connectEcho(httpPort, { message: 'stuck' });
  await waitFor(() => started === 2, { message: 'both calls are in their handler' });

  await assert.rejects(server.shutdown(), /grace period of 400 ms over: 2 calls/);
  const grpcError = await viaGrpc;
  assert.equal(grpcError.code, grpc.status.UNAVAILABLE);
  assert.match(grpcError.details, /retry on another replica/);
  const connectError = await viaConnect;
  assert.equal(connectError.status, 503);
  assert.equal(connectError.body.code, 'unavailable');
  client.close();
  await telemetry.shutdown();
});

test('the http port answers at the deadline even while the handler is still running', async () => {
  const telemetry = await initTelemetry({ serviceName: 'deadline-test' });
  let finished = false;
  const slow = defineService(EchoService, {
    async echo() {
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      finished = true;
      return { message: 'late' };
    },
  });
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'deadline-test',
    services: [slow],
    logger: createLogger({ name: 'deadline-test', level: 'silent' }),
    registry: new Registry(),
  });
  const { httpPort } = await server.start();
  const result = await connectEcho(httpPort, { message: 'x' }, { 'connect-timeout-ms': '300' });
  assert.equal(result.status, 504);
  assert.equal(result.body.code, 'deadline_exceeded');
  assert.equal(finished, false, 'the answer left before the handler finished');
  await server.shutdown();
  await telemetry.shutdown();
});

test('readiness follows a dependency: NOT_SERVING and 503 while unreachable, liveness untouched, back when it returns', async () => {
  const telemetry = await initTelemetry({ serviceName: 'readiness-test' });
  let reachable = true;
  const server = new RpcServer({
    callers: { behindGateway: false, peerIdentity: 'declared' },
    name: 'readiness-test',
    services: [echoService],
    logger: createLogger({ name: 'readiness-test', level: 'silent' }),
    registry: new Registry(),
    dependencies: [
      {
        name: 'store',
        // A frozen dependency never answers; the watcher's own timeout must catch it.
        check: () => (reachable ? Promise.resolve() : new Promise(() => {})),
      },
    ],
    dependencyTimeoutMs: 300,
  });
  const { httpPort } = await server.start();
  assert.equal(await readyz(httpPort), 200);
  reachable = false;
  await waitFor(async () => (await readyz(httpPort)) === 503, { message: 'readyz turns 503' });
  assert.equal(server.health.get('wxmesh.echo.v1.EchoService'), 'NOT_SERVING');
  assert.equal(server.health.get(''), 'SERVING', 'liveness keeps serving: no restart for an outage');
  const body = (await (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).json()) as {
    unreachable: string[];
  };
  assert.deepEqual(body.unreachable, ['store']);
  reachable = true;
  await waitFor(async () => (await readyz(httpPort)) === 200, { message: 'readyz turns 200 again' });
  assert.equal(server.health.get('wxmesh.echo.v1.EchoService'), 'SERVING');
  await server.shutdown();
  await telemetry.shutdown();
});
