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

test('SIGTERM with a drain delay: NOT_SERVING and readyz 503 are visible before the first refused call', async () => {
  const drain = await startServiceProcess('session', {
    env: { DRAIN_DELAY_MS: '1500', SHUTDOWN_GRACE_MS: '10000' },
  });
  service = drain;
  const health = healthClient(drain.grpcAddress);
  const timeline: Array<{ event: string; at: number }> = [];
  const mark = (event: string) => timeline.push({ event, at: performance.now() });
  const watch = health.Watch({ service: 'wxmesh.session.v1.SessionService' });
  watch.on('data', (r: { status: string }) => mark(`health ${r.status}`));
  watch.on('error', () => {});
  await waitFor(() => timeline.some((t) => t.event === 'health SERVING'), {
    message: 'Watch reports SERVING',
  });

  // A load balancer's view: readyz polled, and calls sent until one is refused.
  let refused = false;
  const poll = (async () => {
    while (!refused) {
      const status = await fetch(`${drain.httpUrl}/readyz`).then(
        async (r) => (await r.body?.cancel(), r.status),
        () => 0,
      );
      if (status === 503 && !timeline.some((t) => t.event === 'readyz 503')) mark('readyz 503');
      const call = await fetch(`${drain.httpUrl}/wxmesh.echo.v1.EchoService/Echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"message":"lb"}',
      }).then(
        async (r) => (await r.body?.cancel(), r.status),
        () => 0,
      );
      if (call !== 200) {
        mark(`first refused call (${call === 0 ? 'connection refused' : `HTTP ${call}`})`);
        refused = true;
      }
    }
  })();
  const inFlight = fetch(`${drain.httpUrl}/wxmesh.echo.v1.EchoService/Echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"message":"in flight","delayMs":2500}',
  });
  await waitFor(
    async () =>
      /wxmesh_rpc_server_in_flight [1-9]/.test(await (await fetch(`${drain.httpUrl}/metrics`)).text()),
    {
      message: 'the slow call is in flight',
    },
  );
  drain.child.kill('SIGTERM');
  await poll;
  const at = (event: string) => timeline.find((t) => t.event.startsWith(event))?.at;
  const notServing = at('health NOT_SERVING');
  const unready = at('readyz 503');
  const firstRefused = at('first refused call');
  assert.ok(
    notServing !== undefined && unready !== undefined && firstRefused !== undefined,
    JSON.stringify(timeline),
  );
  assert.ok(notServing < firstRefused, 'health NOT_SERVING was seen before the first refused call');
  assert.ok(unready < firstRefused, 'readyz 503 was seen before the first refused call');
  const finished = await inFlight;
  assert.equal(finished.status, 200, 'the in-flight call finished');
  assert.equal(await drain.exited, 0);
  health.close();
});

test('SIGTERM past the grace: calls still running end with Unavailable and the process exits non-zero', async () => {
  const overrun = await startServiceProcess('session', {
    env: { DRAIN_DELAY_MS: '0', SHUTDOWN_GRACE_MS: '500' },
  });
  service = overrun;
  const client = new grpc.Client(overrun.grpcAddress, grpc.credentials.createInsecure());
  const stuck = new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest(
      '/wxmesh.echo.v1.EchoService/Echo',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(
        toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: 'stuck', delayMs: 30_000 })),
      ),
      (err) => resolve(err),
    ),
  );
  await waitFor(
    async () =>
      /wxmesh_rpc_server_in_flight 1/.test(await (await fetch(`${overrun.httpUrl}/metrics`)).text()),
    {
      message: 'the slow call is in flight',
    },
  );
  const killedAt = performance.now();
  overrun.child.kill('SIGTERM');
  const error = await stuck;
  assert.equal(error?.code, grpc.status.UNAVAILABLE, `ended with ${error?.code}: ${error?.details}`);
  assert.match(error!.details, /retry on another replica/);
  assert.notEqual(await overrun.exited, 0, 'a grace overrun is a failed shutdown');
  // Bounded by the grace plus the closers' own limits, not a multiple of the grace.
  assert.ok(performance.now() - killedAt < 20_000);
  client.close();
});
