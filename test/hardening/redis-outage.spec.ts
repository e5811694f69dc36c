import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  startRedis,
  startServiceProcess,
  waitFor,
  type RedisServer,
  type ServiceProcess,
} from '@wxmesh/testing';

const DEPENDENCY_TIMEOUT_MS = 1_000;
/** What the machine may add to a bounded wait: a scheduler tick on a busy box, not a second timeout. */
const SLACK_MS = 750;

let redis: RedisServer | undefined;
let service: ServiceProcess | undefined;
after(async () => {
  redis?.resume();
  if (service && service.child.exitCode === null) service.child.kill('SIGKILL');
  await redis?.stop();
});

async function readyz(): Promise<number> {
  const response = await fetch(`${service!.httpUrl}/readyz`);
  await response.body?.cancel();
  return response.status;
}

/** ListSessions for a gateway user on the http port: one Redis read, as the edge calls it. */
async function listSessions(): Promise<{ status: number; code?: string; message?: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${service!.httpUrl}/wxmesh.session.v1.SessionService/ListSessions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'connect-timeout-ms': '15000',
      'x-wx-openid': 'o_outage_user',
      'x-wx-appid': 'wx_outage_app',
    },
    body: '{}',
  });
  const body = (await response.json()) as { code?: string; message?: string };
  return { status: response.status, ...body, ms: performance.now() - started };
}

test('Redis frozen: calls fail fast with Unavailable, readyz turns 503 and back, errors are structured logs', async () => {
  redis = await startRedis();
  let stderr = '';
  service = await startServiceProcess('session', {
    env: {
      REDIS_URL: redis.url,
      DEPENDENCY_TIMEOUT_MS: String(DEPENDENCY_TIMEOUT_MS),
      EDGE_BEHIND_GATEWAY: 'true',
    },
    onStderr: (chunk) => (stderr += chunk),
  });
  assert.equal((await listSessions()).status, 200);
  assert.equal(await readyz(), 200);

  redis.pause();
  const frozenAt = performance.now();
  const failed = await listSessions();
  assert.equal(failed.status, 503, JSON.stringify(failed));
  assert.equal(failed.code, 'unavailable');
  assert.match(failed.message ?? '', /redis is unavailable/);
  assert.ok(
    failed.ms < DEPENDENCY_TIMEOUT_MS + SLACK_MS,
    `failed after ${failed.ms.toFixed(0)} ms, not within the configured ${DEPENDENCY_TIMEOUT_MS} ms`,
  );
  await waitFor(async () => (await readyz()) === 503, {
    timeoutMs: Math.max(0, 2_000 - (performance.now() - frozenAt)),
    message: 'readyz 503 within 2 s of the freeze',
  });

  redis.resume();
  const thawedAt = performance.now();
  await waitFor(async () => (await readyz()) === 200, {
    timeoutMs: 2_000,
    message: 'readyz 200 within 2 s of recovery',
  });
  assert.ok(performance.now() - thawedAt < 2_000 + SLACK_MS);
  assert.equal((await listSessions()).status, 200, 'calls are served again');

  assert.ok(
    service.logs.some(
      (line) => line.msg === 'dependency unreachable: not ready' && line.dependency === 'redis',
    ),
    'the outage is a structured log line',
  );
  assert.ok(service.logs.some((line) => line.msg === 'dependency reachable again: ready'));
  assert.doesNotMatch(stderr, /Unhandled error event/, 'no raw ioredis errors on stderr');
});
