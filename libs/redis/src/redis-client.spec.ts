import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CommandTimeoutDuringMaintenanceError, MaxRetriesPerRequestError } from 'ioredis';
import { startRedis, type RedisServer } from '@wxmesh/testing';
import { createRedisClient, isRedisUnavailable, pingRedis } from './index.js';

const TIMEOUT_MS = 300;
const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
const logger = {
  warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }),
  info: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }),
};

let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server?.stop();
});

test('a frozen server: commands fail within the timeout with an error the kit maps to Unavailable', async () => {
  const client = createRedisClient({
    connection: { mode: 'standalone', url: server.url },
    name: 'spec',
    logger,
    timeoutMs: TIMEOUT_MS,
  });
  await client.connect();
  await pingRedis(client);
  server.pause();
  try {
    const started = performance.now();
    const failure = await client.set('wxm:spec:k', 'v').then(
      () => assert.fail('a frozen server answered'),
      (err: unknown) => err,
    );
    const waited = performance.now() - started;
    assert.ok(isRedisUnavailable(failure), `recognised: ${String(failure)}`);
    // Bounded by the timeout, not by a call's whole deadline: far below ioredis' unbounded default.
    assert.ok(waited < TIMEOUT_MS * 10, `failed after ${waited.toFixed(0)} ms`);
    await assert.rejects(pingRedis(client), (err) => isRedisUnavailable(err));
  } finally {
    server.resume();
  }
  await pingRedis(client);
  client.disconnect();
});

test('a server that is gone: commands fail fast (no unbounded offline queue), errors are logged as structured lines', async () => {
  const spare = await startRedis();
  const client = createRedisClient({
    connection: { mode: 'standalone', url: spare.url },
    name: 'spec-gone',
    logger,
    timeoutMs: TIMEOUT_MS,
  });
  await client.connect();
  await spare.stop();
  const failure = await client.get('wxm:spec:k').then(
    () => assert.fail('a stopped server answered'),
    (err: unknown) => err,
  );
  assert.ok(isRedisUnavailable(failure), `recognised: ${String(failure)}`);
  assert.ok(
    lines.some(
      (line) => line.message === 'redis connection failed' && line.fields.connection === 'spec-gone',
    ),
    'the connection failure was logged through the logger',
  );
  for (const line of lines) assert.doesNotMatch(JSON.stringify(line), /redis:\/\/|stack/);
  client.disconnect();
});

test('command errors are not outages', async () => {
  const client = createRedisClient({
    connection: { mode: 'standalone', url: server.url },
    name: 'spec-errors',
    logger,
    timeoutMs: TIMEOUT_MS,
  });
  await client.connect();
  await client.set('wxm:spec:string', 'v');
  const failure = await client.lpush('wxm:spec:string', 'x').then(
    () => assert.fail('WRONGTYPE expected'),
    (err: unknown) => err,
  );
  assert.match(String(failure), /WRONGTYPE/);
  assert.equal(isRedisUnavailable(failure), false);
  assert.equal(isRedisUnavailable(new Error('boom')), false);
  // ioredis' own outage errors, recognised by class rather than by their message.
  assert.ok(isRedisUnavailable(new MaxRetriesPerRequestError(1)));
  assert.ok(isRedisUnavailable(new CommandTimeoutDuringMaintenanceError(100)));
  assert.equal(isRedisUnavailable('Command timed out'), false, 'only errors count');
  client.disconnect();
});
