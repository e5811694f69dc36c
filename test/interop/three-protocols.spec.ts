import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { GetDeliveryRequestSchema } from '@wxmesh/contracts';
import { startServiceProcess, type ServiceProcess } from '@wxmesh/testing';
import { curlConnect, grpcEcho, grpcWebEcho } from '../support/clients.js';

// The acceptance path against a real service process: one RPC reached by a generic grpc-js
// client, by curl posting Connect JSON over HTTP/1.1, and by a gRPC-Web request.
const OPENID = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';
let service: ServiceProcess;
let client: grpc.Client;

before(async () => {
  // Its http port plays the edge behind the cloud gateway, which alone may send X-WX-*.
  // Its peers are never called by these tests: any address will do.
  service = await startServiceProcess('message-router', {
    env: { EDGE_BEHIND_GATEWAY: 'true', SESSION_ADDR: '127.0.0.1:9', AUTH_VERIFY_ADDR: '127.0.0.1:9' },
    timeoutMs: 120_000,
  });
  client = new grpc.Client(service.grpcAddress, grpc.credentials.createInsecure());
});
after(async () => {
  client.close();
  service.child.kill('SIGTERM');
  await service.exited;
});

test('grpc-js, curl (Connect JSON) and gRPC-Web reach the same handler with the same WeChat context', async () => {
  const metadata = new grpc.Metadata();
  metadata.set('x-wxmesh-peer', 'business-backend');
  metadata.set('x-wx-openid', OPENID);
  metadata.set('x-wx-env', 'prod-1a2b');
  const viaGrpc = await grpcEcho(client, { message: 'ping' }, metadata);
  const viaCurl = await curlConnect(
    service.httpUrl,
    '/wxmesh.echo.v1.EchoService/Echo',
    { message: 'ping' },
    [`X-WX-OPENID: ${OPENID}`, 'X-WX-ENV: prod-1a2b'],
  );
  const viaWeb = await grpcWebEcho(
    service.httpUrl,
    { message: 'ping' },
    { 'X-WX-OPENID': OPENID, 'X-WX-ENV': 'prod-1a2b' },
  );

  const expected = { openid: OPENID, env: 'prod-1a2b' };
  assert.deepEqual({ openid: viaGrpc.wechat?.openid, env: viaGrpc.wechat?.env }, expected);
  assert.equal(viaCurl.status, 200);
  assert.deepEqual(viaCurl.body, { message: 'ping', wechat: expected });
  assert.equal(viaWeb.status, 0);
  assert.deepEqual(
    { openid: viaWeb.messages[0]?.wechat?.openid, env: viaWeb.messages[0]?.wechat?.env },
    expected,
  );
});

test('InvalidArgument is gRPC status 3, Connect invalid_argument with HTTP 400, gRPC-Web status 3', async () => {
  const bad = { message: 'x'.repeat(5000) };
  await assert.rejects(grpcEcho(client, bad), (err: grpc.ServiceError) => err.code === 3);
  const viaCurl = await curlConnect(service.httpUrl, '/wxmesh.echo.v1.EchoService/Echo', bad);
  assert.equal(viaCurl.status, 400);
  assert.equal(viaCurl.body.code, 'invalid_argument');
  assert.equal((await grpcWebEcho(service.httpUrl, bad)).status, 3);
});

test('a generic grpc-js client reaches a domain handler as an allowed peer: an unknown delivery is NotFound, naming it', async () => {
  const metadata = new grpc.Metadata();
  metadata.set('x-wxmesh-peer', 'business-backend');
  const answer = await new Promise<grpc.ServiceError>((resolve, reject) =>
    client.makeUnaryRequest(
      '/wxmesh.router.v1.MessageRouterService/GetDelivery',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(
        toBinary(GetDeliveryRequestSchema, create(GetDeliveryRequestSchema, { deliveryId: 'dl_1' })),
      ),
      metadata,
      (err) => (err ? resolve(err) : reject(new Error('GetDelivery answered'))),
    ),
  );
  assert.equal(answer.code, grpc.status.NOT_FOUND);
  assert.match(answer.details, /delivery dl_1 not found/);
});

test('an internal RPC is not on the edge at all: curl gets 404 not_found, as for an unknown method', async () => {
  for (const method of ['GetDelivery', 'NoSuchMethod']) {
    const viaCurl = await curlConnect(service.httpUrl, `/wxmesh.router.v1.MessageRouterService/${method}`, {
      deliveryId: 'dl_0123456789abcdef',
    });
    assert.equal(viaCurl.status, 404, method);
    assert.equal(viaCurl.body.code, 'not_found', method);
  }
});
