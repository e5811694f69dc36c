import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCAL_MESH, playJourney, type JourneyResult } from '@wxmesh/gateway-client';
import {
  scaledTimeout,
  startOtlpReceiver,
  waitFor,
  type OtlpReceiver,
  type ReceivedSpan,
} from '@wxmesh/testing';

// The mesh as a user meets it: `npm start` (scripts/start.ts) as its own process, exporting every
// service's spans to an OTLP receiver here, the mini-program journey played through the gateway
// client, each step's trace read back, then Ctrl-C.

const root = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

let receiver: OtlpReceiver;
let mesh: ChildProcess | undefined;
let output = '';
let journey: JourneyResult;

/** What `npm start` printed, for failure messages. */
const tail = () => output.slice(-4000);

before(async () => {
  receiver = await startOtlpReceiver();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '200',
  };
  // Its own Redis and Kafka, as on a user's machine, not the suite's shared servers.
  delete env.REDIS_URL;
  delete env.KAFKA_BROKERS;
  mesh = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--no-journey'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  mesh.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  mesh.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // An exit ends the wait at once (a condition that throws only counts as "not yet").
  const exited = new AbortController();
  mesh.once('exit', (code) => exited.abort(new Error(`npm start exited (${code}):\n${tail()}`)));
  await waitFor(() => output.includes('[mesh] ready'), {
    timeoutMs: scaledTimeout(240_000),
    intervalMs: 250,
    message: 'npm start to report the mesh ready',
    signal: exited.signal,
  });
  journey = await playJourney();
});

after(async () => {
  await stopMesh();
  await receiver?.stop();
});

/** Ctrl-C, as a user stops it: resolves once npm start has exited. */
async function stopMesh(): Promise<number | null> {
  const child = mesh;
  if (child === undefined) return null;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    const limit = setTimeout(() => child.kill('SIGINT'), scaledTimeout(60_000)); // a second Ctrl-C kills all
    await exited;
    clearTimeout(limit);
  }
  return child.exitCode;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const stepTrace = (name: string) => {
  const step = journey.steps.find((s) => s.name === name);
  assert.ok(step, `journey step "${name}"`);
  return step.traceId;
};

const services = (spans: readonly ReceivedSpan[]) => new Set(spans.map((s) => s.service));

/** The step's trace once it has spans from each of `wanted` (exports are batched and asynchronous). */
function traceWith(
  name: string,
  wanted: string[],
  also: (spans: readonly ReceivedSpan[]) => boolean = () => true,
) {
  return receiver.waitForTrace(
    stepTrace(name),
    (spans) => wanted.every((w) => services(spans).has(w)) && also(spans),
    { message: `the "${name}" trace to hold spans of ${wanted.join(', ')}` },
  );
}

test('every journey step succeeds through the edge, each with a trace id of its own', () => {
  assert.deepEqual(
    journey.steps.map((s) => s.name),
    [
      'login',
      'decrypt user data',
      'attach live channel',
      'route a message',
      'create an order',
      'pay (sandbox notifies)',
      'payment notice',
      'journey and funnel',
    ],
  );
  const ids = journey.steps.filter((s) => s.name !== 'payment notice').map((s) => s.traceId);
  assert.equal(new Set(ids).size, ids.length, 'one trace per step');
  assert.match(journey.steps.at(-1)!.result, /1 paid/);
});

test('login is one trace: the gateway call, jscode2session, session, and the event through Kafka to the projector', async () => {
  const login = (s: ReceivedSpan) =>
    s.service === 'auth-verify' && s.kind === SERVER && s.name.endsWith('/Login');
  // A SERVER span ends after the spans under it and may come in a later export batch: wait for it.
  const spans = await traceWith(
    'login',
    ['auth-verify', 'session', 'behaviour-projector'],
    (all) => all.some((s) => s.kind === CONSUMER) && all.some(login),
  );
  const server = spans.find(login);
  assert.ok(server, `a SERVER span of Login among ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`);
  assert.equal(server.attributes['wechat.openid'], journey.openid, 'the caller the gateway named');
  assert.equal(server.attributes['wechat.appid'], journey.appid);
  const wechat = spans.find((s) => s.name === 'GET /sns/jscode2session');
  assert.ok(wechat, 'a CLIENT span of its own for the call to WeChat');
  assert.equal(wechat.service, 'auth-verify');
  assert.equal(wechat.attributes['url.template'], '/sns/jscode2session');
  // Each event the projector consumed continues the span that produced it (record headers).
  const producers = new Map(spans.filter((s) => s.kind === PRODUCER).map((s) => [s.spanId, s]));
  assert.ok(
    [...producers.values()].some((s) => s.service === 'auth-verify'),
    'auth-verify produced an event',
  );
  const consumed = spans.filter((s) => s.kind === CONSUMER && s.service === 'behaviour-projector');
  assert.ok(consumed.length > 0);
  for (const span of consumed)
    assert.ok(producers.has(span.parentSpanId), 'the consumer continues the producer through record headers');
  for (const span of consumed) assert.equal(span.attributes['wechat.openid'], journey.openid);
});

test('routing a message reaches message-router and session in one trace', async () => {
  const routed = (s: ReceivedSpan) =>
    s.service === 'message-router' && s.kind === SERVER && s.name.endsWith('/RouteMessage');
  const spans = await traceWith('route a message', ['message-router', 'session'], (all) => all.some(routed));
  const route = spans.find(routed);
  assert.ok(route);
  assert.equal(route.attributes['wechat.openid'], journey.openid, 'the peer acted for the user');
});

test('paying is one trace from the notification through Kafka to the projector and the router', async () => {
  const webhook = (s: ReceivedSpan) =>
    s.service === 'payment-callback' && s.kind === SERVER && s.name.includes('/webhooks/');
  const consumedBy = (all: readonly ReceivedSpan[], service: string) =>
    all.some((s) => s.kind === CONSUMER && s.service === service);
  // The webhook's SERVER span ends after its response, so it may reach the receiver in a later
  // export batch than the spans under it: the wait covers every span the test asserts on.
  const spans = await traceWith(
    'pay (sandbox notifies)',
    ['payment-callback', 'behaviour-projector', 'message-router'],
    (all) => all.some(webhook) && consumedBy(all, 'behaviour-projector') && consumedBy(all, 'message-router'),
  );
  assert.ok(spans.some(webhook), 'the webhook SERVER span');
  const order = await traceWith('create an order', ['payment-callback'], (all) =>
    all.some((s) => s.name === 'POST /v3/pay/transactions/jsapi'),
  );
  const pay = order.find((s) => s.name === 'POST /v3/pay/transactions/jsapi')!;
  assert.equal(pay.kind, CLIENT, 'the call to WeChat Pay is a CLIENT span');
  assert.equal(pay.service, 'payment-callback');
});

test('the journey touched every domain service, and no span carries a secret', async () => {
  await traceWith('journey and funnel', ['behaviour-projector']);
  const all = receiver.spans();
  for (const name of ['auth-verify', 'session', 'payment-callback', 'message-router', 'behaviour-projector'])
    assert.ok(services(all).has(name), `spans from ${name}`);
  const devSecrets = `${root}tmp/dev-secrets/`;
  const secrets = [
    ...journey.credentials,
    readFileSync(`${devSecrets}app-secret`, 'utf8').split('=')[1]!.trim(),
    readFileSync(`${devSecrets}session-key-encryption-key`, 'utf8').trim(),
    readFileSync(`${devSecrets}pay/apiv3_key`, 'utf8').trim(),
  ];
  const exported = JSON.stringify(all);
  for (const secret of secrets) assert.ok(!exported.includes(secret), 'a secret in an exported span');
  const keys = new Set(all.flatMap((s) => Object.keys(s.attributes)));
  for (const key of keys) assert.doesNotMatch(key, /secret|session_key|token|password|authorization/i);
});

test("the example consumer for outside teams prints the journey's events", async () => {
  const kafka = /Kafka [\d.]+: ready at (127\.0\.0\.1:\d+)/.exec(output)?.[1];
  assert.ok(kafka, `the mesh's Kafka in:\n${tail()}`);
  const example = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'docs/examples/print-behaviour-events.ts',
      '--from-beginning',
      '--idle-ms',
      String(scaledTimeout(5_000)),
    ],
    { cwd: root, env: { ...process.env, KAFKA_BROKERS: kafka }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let printed = '';
  example.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  example.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => example.once('exit', resolve));
  assert.equal(code, 0, printed);
  const mine = printed.split('\n').filter((line) => line.includes(`openid=${journey.openid} `));
  const kinds = mine.map((line) => line.split(' ')[1]);
  for (const kind of [
    'UserLoggedIn',
    'SessionStarted',
    'MessageDelivered',
    'OrderCreated',
    'PaymentSucceeded',
  ])
    assert.ok(kinds.includes(kind), `${kind} among the journey's events:\n${mine.join('\n')}`);
  assert.ok(kinds.indexOf('OrderCreated') < kinds.indexOf('PaymentSucceeded'), 'in the order they happened');
});

test('Ctrl-C stops everything: npm start exits 0 and every port it bound is free', async () => {
  const infraPorts = [...output.matchAll(/ready at (?:redis:\/\/)?127\.0\.0\.1:(\d+)/g)].map((m) =>
    Number(m[1]),
  );
  assert.equal(infraPorts.length, 2, `Redis and Kafka ports in:\n${tail()}`);
  assert.equal(await stopMesh(), 0, tail());
  const ports = [...LOCAL_MESH.flatMap((s) => [s.grpc, s.http]), ...infraPorts];
  await waitFor(async () => (await Promise.all(ports.map(portFree))).every(Boolean), {
    timeoutMs: scaledTimeout(10_000),
    message: 'every port npm start bound to be free',
  });
});
