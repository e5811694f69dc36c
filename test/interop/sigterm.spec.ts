import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { EchoRequestSchema, EchoResponseSchema, type EchoResponse } from '@wxmesh/contracts';
import { startServiceProcess, waitFor, type ServiceProcess } from '@wxmesh/testing';
import { healthClient } from '../support/standard-clients.js';

let service: ServiceProcess | undefined;
after(() => {
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL');
});

test('SIGTERM during a slow call: the call finishes, health goes NOT_SERVING, the process exits 0', async () => {
  service = await startServiceProcess('session', { env: { SHUTDOWN_GRACE_MS: '10000' } });
  const client = new grpc.Client(service.grpcAddress, grpc.credentials.createInsecure());
  const health = healthClient(service.grpcAddress);
  const statuses: string[] = [];
  const watch = health.Watch({ service: 'wxmesh.session.v1.SessionService' });
  watch.on('data', (r: { status: string }) => statuses.push(r.status));
  watch.on('error', () => {});
  await waitFor(() => statuses.includes('SERVING'), {
    timeoutMs: 5_000,
    message: 'health Watch reported SERVING',
  });

  const slow = new Promise<EchoResponse>((resolve, reject) =>
    client.makeUnaryRequest(
      '/wxmesh.echo.v1.EchoService/Echo',
      (b: Buffer) => b,
      (b: Buffer) => fromBinary(EchoResponseSchema, b),
      Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'slow', delayMs: 1500 }))),
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
  const metrics = `${service.httpUrl}/metrics`;
  await waitFor(async () => /wxmesh_rpc_server_in_flight 1/.test(await (await fetch(metrics)).text()), {
    timeoutMs: 5_000,
    message: 'the slow call is in flight',
  });

  service.child.kill('SIGTERM');
  await waitFor(() => statuses.includes('NOT_SERVING'), {
    timeoutMs: 5_000,
    message: 'health flipped to NOT_SERVING',
  });
  assert.equal((await slow).message, 'slow', 'the in-flight call completed');
  assert.equal(await service.exited, 0);
  assert.ok(service.logs.some((l) => l.msg === 'shut down'));
  client.close();
  health.close();
});
