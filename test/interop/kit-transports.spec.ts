import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type EchoResponse } from '@wxmesh/contracts';
import { createLogger, echoService, RpcServer } from '@wxmesh/rpc';
import { Registry } from 'prom-client';
import { initTelemetry, type Telemetry } from '@wxmesh/telemetry';
import {
  curlConnect,
  decode,
  ECHO_STREAM,
  encode,
  grpcEcho,
  grpcWebEcho,
  grpcWebFrame,
  identity,
  parseGrpcWeb,
} from '../support/clients.js';
import { checkHealth, healthClient, reflectionClient } from '../support/standard-clients.js';

// The kit in-process, reached only by clients the project did not write (grpc-js with the
// message codec, curl, fetch framing gRPC-Web by hand, the official health/reflection protos).
let server: RpcServer;
let grpcAddress: string;
let httpUrl: string;
let client: grpc.Client;
let telemetry: Telemetry;

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'kit-test' });
  server = new RpcServer({
    name: 'kit-test',
    services: [echoService],
    logger: createLogger({ name: 'kit-test', level: 'silent' }),
    registry: new Registry(),
    shutdownGraceMs: 5_000,
    // The http port plays the edge behind the cloud gateway; grpc callers are peers by declared name.
    callers: { behindGateway: true, peerIdentity: 'declared' },
  });
  const ports = await server.start();
  grpcAddress = `127.0.0.1:${ports.grpcPort}`;
  httpUrl = `http://127.0.0.1:${ports.httpPort}`;
  client = new grpc.Client(grpcAddress, grpc.credentials.createInsecure());
});

after(async () => {
  client.close();
  await server.shutdown();
  await telemetry.shutdown();
});

describe('one handler, three protocols', () => {
  test('grpc-js, Connect JSON over curl and gRPC-Web see the same WeChat context', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-wxmesh-peer', 'kit-test-peer');
    metadata.set('x-wx-openid', 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M');
    metadata.set('x-wx-appid', 'wx1234567890abcdef');
    const viaGrpc = await grpcEcho(client, { message: 'hi' }, metadata);

    const viaConnect = await curlConnect(httpUrl, '/wxmesh.echo.v1.EchoService/Echo', { message: 'hi' }, [
      'X-WX-OPENID: o6_bmjrPTlm6_2sgVt7hMZOPfL2M',
      'X-WX-APPID: wx1234567890abcdef',
    ]);
    const viaWeb = await grpcWebEcho(
      httpUrl,
      { message: 'hi' },
      { 'X-WX-OPENID': 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M', 'X-WX-APPID': 'wx1234567890abcdef' },
    );

    assert.equal(viaGrpc.message, 'hi');
    assert.equal(viaGrpc.wechat?.openid, 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M');
    assert.equal(viaGrpc.wechat?.appid, 'wx1234567890abcdef');
    assert.equal(viaConnect.status, 200);
    assert.deepEqual(viaConnect.body, {
      message: 'hi',
      wechat: { openid: 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M', appid: 'wx1234567890abcdef' },
    });
    assert.equal(viaWeb.status, 0);
    assert.equal(viaWeb.messages[0]?.message, 'hi');
    assert.equal(viaWeb.messages[0]?.wechat?.openid, 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M');
  });

  test('InvalidArgument from validation: gRPC status 3, Connect invalid_argument/400, gRPC-Web status 3', async () => {
    const tooLong = 'x'.repeat(5000);
    await assert.rejects(grpcEcho(client, { message: tooLong }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /message/);
      return true;
    });
    const viaConnect = await curlConnect(httpUrl, '/wxmesh.echo.v1.EchoService/Echo', { message: tooLong });
    assert.equal(viaConnect.status, 400);
    assert.equal(viaConnect.body.code, 'invalid_argument');
    assert.match(viaConnect.body.message, /message/);
    const viaWeb = await grpcWebEcho(httpUrl, { message: tooLong });
    assert.equal(viaWeb.status, 3);
  });

  test('a ConnectError thrown by a handler keeps its code on every transport', async () => {
    await assert.rejects(grpcEcho(client, { failCode: 'failed_precondition' }), {
      code: grpc.status.FAILED_PRECONDITION,
    });
    const viaConnect = await curlConnect(httpUrl, '/wxmesh.echo.v1.EchoService/Echo', {
      failCode: 'failed_precondition',
    });
    assert.equal(viaConnect.body.code, 'failed_precondition');
    assert.equal(viaConnect.status, 400);
    assert.equal((await grpcWebEcho(httpUrl, { failCode: 'failed_precondition' })).status, 9);
  });

  test('an unexpected exception becomes Internal without leaking its message', async () => {
    await assert.rejects(grpcEcho(client, { failCode: 'internal' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INTERNAL);
      assert.equal(err.details, 'internal error');
      return true;
    });
    const viaConnect = await curlConnect(httpUrl, '/wxmesh.echo.v1.EchoService/Echo', {
      failCode: 'internal',
    });
    assert.equal(viaConnect.body.code, 'internal');
    assert.doesNotMatch(JSON.stringify(viaConnect.body), /deliberate/);
  });

  test('server streaming works on grpc-js and gRPC-Web', async () => {
    const stream = client.makeServerStreamRequest(
      ECHO_STREAM,
      identity,
      decode,
      encode({ message: 's', repeat: 3 }),
      new grpc.Metadata(),
    );
    const got: string[] = [];
    for await (const m of stream) got.push((m as EchoResponse).message);
    assert.deepEqual(got, ['s#0', 's#1', 's#2']);

    const response = await fetch(`${httpUrl}${ECHO_STREAM}`, {
      method: 'POST',
      headers: { 'content-type': 'application/grpc-web+proto' },
      body: grpcWebFrame(encode({ message: 'w', repeat: 2 })),
    });
    const parsed = parseGrpcWeb(Buffer.from(await response.arrayBuffer()));
    assert.deepEqual(
      parsed.messages.map((m) => decode(m).message),
      ['w#0', 'w#1'],
    );
    assert.equal(parsed.trailers['grpc-status'], '0');
  });

  test('the caller deadline reaches the handler: a slow call ends DeadlineExceeded', async () => {
    await assert.rejects(
      grpcEcho(client, { delayMs: 2000 }, new grpc.Metadata(), { deadline: Date.now() + 150 }),
      {
        code: grpc.status.DEADLINE_EXCEEDED,
      },
    );
    const started = Date.now();
    const viaConnect = await curlConnect(httpUrl, '/wxmesh.echo.v1.EchoService/Echo', { delayMs: 2000 }, [
      'Connect-Timeout-Ms: 150',
    ]);
    assert.equal(viaConnect.body.code, 'deadline_exceeded');
    assert.ok(Date.now() - started < 1500, 'the handler stopped waiting at the deadline');
  });
});

describe('operational surface', () => {
  test('grpc.health.v1 Check answers per service, unknown services get NOT_FOUND', async () => {
    const health = healthClient(grpcAddress);
    assert.equal(await checkHealth(health, ''), 'SERVING');
    assert.equal(await checkHealth(health, 'wxmesh.echo.v1.EchoService'), 'SERVING');
    await assert.rejects(checkHealth(health, 'no.such.Service'), { code: grpc.status.NOT_FOUND });
    health.close();
  });

  test('reflection lists the services and returns their file descriptors', async () => {
    const reflection = reflectionClient(grpcAddress);
    const call = reflection.ServerReflectionInfo();
    const answers: Array<Record<string, unknown>> = [];
    call.on('data', (d: Record<string, unknown>) => answers.push(d));
    const done = new Promise((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ listServices: '' });
    call.write({ fileContainingSymbol: 'wxmesh.echo.v1.EchoService' });
    call.end();
    await done;
    const names = (answers[0]?.listServicesResponse as { service: Array<{ name: string }> }).service.map(
      (s) => s.name,
    );
    assert.ok(names.includes('wxmesh.echo.v1.EchoService'), `listed: ${names.join(', ')}`);
    assert.ok(names.includes('grpc.health.v1.Health'));
    const files = (answers[1]?.fileDescriptorResponse as { fileDescriptorProto: Buffer[] })
      .fileDescriptorProto;
    assert.ok(files.some((f) => f.toString('latin1').includes('wxmesh/echo/v1/echo.proto')));
    reflection.close();
  });

  test('/healthz, /readyz and /metrics answer on the http port', async () => {
    assert.equal((await fetch(`${httpUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${httpUrl}/readyz`)).status, 200);
    await grpcEcho(client, { message: 'count me' });
    const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
    assert.match(
      metrics,
      /wxmesh_rpc_server_duration_seconds_count\{[^}]*rpc_method="Echo"[^}]*code="ok"[^}]*\} [1-9]/,
    );
    assert.equal((await fetch(`${httpUrl}/nope`)).status, 404);
  });
});
