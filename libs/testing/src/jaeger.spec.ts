// The local Jaeger for real: OTLP/HTTP in from the OTel JS SDK (the exporter the services use),
// the query API out, the ports it holds, and `npm run trace`. Building Jaeger takes a quarter of
// an hour, so the tests that run it skip when it is not in the cache (CI); `npm run jaeger` builds it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { onExitCleanup } from './exit-cleanup.js';
import { freePort } from './free-port.js';
import { findCommand, runCommand } from './host-tools.js';
import { findCachedJaeger, JAEGER_VERSION, jaegerBinaryPath } from './jaeger-build.js';
import { startJaeger, type JaegerServer } from './jaeger.js';
import { fetchJaegerTrace, waitForJaegerTrace } from './jaeger-trace.js';
import { formatTraceTree } from './jaeger-trace-tree.js';
import { canListen } from './test-support.js';
import { scaledTimeout } from './timeout-scale.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const notBuilt = (await findCachedJaeger())
  ? false
  : `Jaeger ${JAEGER_VERSION} is not built on this machine (${jaegerBinaryPath()}); ` +
    '`npm run jaeger` builds it once (~15-20 min). Tests never build it.';

async function started(t: TestContext): Promise<JaegerServer> {
  const jaeger = await startJaeger({ progress: () => undefined });
  t.after(() => jaeger.stop());
  return jaeger;
}

/**
 * A login as two services record it, exported over OTLP/HTTP protobuf: auth-verify's server span
 * and, 5 ms in, session's failing child. Fixed times make the tree's numbers exact.
 */
async function exportLogin(otlpEndpoint: string): Promise<string> {
  const providers = ['it-auth-verify', 'it-session'].map(
    (service) =>
      new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [
          new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${otlpEndpoint}/v1/traces` })),
        ],
      }),
  );
  const [auth, session] = providers.map((provider) => provider.getTracer('jaeger-spec'));
  const t0 = Date.now() - 1000;
  const wechat = { 'wechat.openid': 'o_it_user', 'wechat.appid': 'wx_it_app' };
  const login = auth!.startSpan('Login', { startTime: t0, attributes: { ...wechat, 'rpc.system': 'grpc' } });
  const create = session!.startSpan(
    'CreateSession',
    { startTime: t0 + 5, attributes: { 'wechat.openid': 'o_it_user' } },
    trace.setSpan(context.active(), login),
  );
  create.setStatus({ code: SpanStatusCode.ERROR, message: 'redis unavailable' });
  create.end(t0 + 15);
  login.end(t0 + 30);
  await Promise.all(providers.map((provider) => provider.shutdown()));
  return login.spanContext().traceId;
}

/** {@link exportLogin}'s trace as formatTraceTree draws it. */
const LOGIN_TREE = [
  '0.00 ms  30.00 ms  it-auth-verify Login',
  '                     wechat.appid=wx_it_app wechat.openid=o_it_user',
  '5.00 ms  10.00 ms    it-session CreateSession  ✗ error: redis unavailable',
  '                       wechat.openid=o_it_user',
];

test(
  'Jaeger takes OTLP/HTTP spans from two services and gives them back as one trace tree',
  { skip: notBuilt },
  async (t) => {
    const jaeger = await started(t);
    const traceId = await exportLogin(jaeger.otlpEndpoint);
    const found = await waitForJaegerTrace(jaeger.queryUrl, traceId, {
      services: ['it-auth-verify', 'it-session'],
      timeoutMs: scaledTimeout(15_000),
    });
    assert.equal(found.traceID, traceId);
    assert.deepEqual(formatTraceTree(found), LOGIN_TREE);
    assert.equal(await fetchJaegerTrace(jaeger.queryUrl, '0123456789abcdef0123456789abcdef'), undefined);
  },
);

/** The TCP ports process `pid` listens on, as `ss -ltnpH` lists them (`127.0.0.1:4318` ...). */
async function listeningAddresses(ss: string, pid: number): Promise<string[]> {
  const { code, output } = await runCommand(ss, ['-ltnpH']);
  assert.equal(code, 0, output);
  return output
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3]!)
    .sort();
}

const ss = await findCommand('ss');

test(
  'two Jaegers side by side each listen on 127.0.0.1 only: query, OTLP/HTTP and an OS-chosen query gRPC port',
  { skip: notBuilt || (ss ? false : '`ss` (iproute2) is not installed, so the ports cannot be listed') },
  async (t) => {
    const [one, two] = await Promise.all([started(t), started(t)]);
    for (const jaeger of [one!, two!]) {
      const addresses = await listeningAddresses(ss!, jaeger.child.pid!);
      const fixed = [new URL(jaeger.queryUrl).host, new URL(jaeger.otlpEndpoint).host];
      assert.equal(addresses.length, 3, `listens on ${addresses.join(', ')}`);
      for (const address of fixed)
        assert.ok(addresses.includes(address), `${address} in ${addresses.join(', ')}`);
      for (const address of addresses) assert.match(address, /^127\.0\.0\.1:\d+$/);
    }
  },
);

test(
  'stop() ends Jaeger and frees its ports; a stopped Jaeger is reported as not reachable',
  { skip: notBuilt },
  async () => {
    const jaeger = await startJaeger({ progress: () => undefined });
    await jaeger.stop();
    assert.ok(jaeger.child.exitCode !== null || jaeger.child.signalCode !== null, 'the process has exited');
    assert.ok(await canListen(Number(new URL(jaeger.queryUrl).port)), 'the query port is free');
    assert.ok(await canListen(Number(new URL(jaeger.otlpEndpoint).port)), 'the OTLP port is free');
    await assert.rejects(
      fetchJaegerTrace(jaeger.queryUrl, '0123456789abcdef0123456789abcdef'),
      /Jaeger not reachable at http:\/\/127\.0\.0\.1:\d+ \(start it with npm run jaeger or npm start -- --jaeger\)/,
    );
  },
);

/** Runs scripts/trace.ts as `npm run trace` does. */
function traceScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { JAEGER_QUERY_URL: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/trace.ts', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const forget = onExitCleanup(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) =>
    child.once('close', (code) => {
      forget();
      resolve({ code, stdout, stderr });
    }),
  );
}

test(
  'npm run trace prints the tree of a stored trace and says so when there is no such trace',
  { skip: notBuilt },
  async (t) => {
    const jaeger = await started(t);
    const traceId = await exportLogin(jaeger.otlpEndpoint);
    await waitForJaegerTrace(jaeger.queryUrl, traceId, {
      services: ['it-auth-verify', 'it-session'],
      timeoutMs: scaledTimeout(15_000),
    });
    const shown = await traceScript([traceId, '--jaeger', jaeger.queryUrl]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(
      shown.stdout,
      [`trace ${traceId}: 2 spans from it-auth-verify, it-session`, ...LOGIN_TREE, ''].join('\n'),
    );
    const missing = await traceScript(['0123456789abcdef0123456789abcdef', '--jaeger', jaeger.queryUrl]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^no such trace: Jaeger at http:\/\/127\.0\.0\.1:\d+ has no trace 0123456789abcdef0123456789abcdef/,
    );
  },
);

test('npm run trace explains an unreachable Jaeger and a malformed trace id', async () => {
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const unreachable = await traceScript(['0123456789abcdef0123456789abcdef', '--jaeger', nobody]);
  assert.equal(unreachable.code, 1);
  assert.match(
    unreachable.stderr,
    /^Jaeger not reachable at http:\/\/127\.0\.0\.1:\d+ \(start it with npm run jaeger or npm start -- --jaeger\): ECONNREFUSED/,
  );
  const malformed = await traceScript(['not-a-trace', '--jaeger', nobody]);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /"not-a-trace" is not a trace id/);
});
