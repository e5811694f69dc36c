// auth-verify's hot path: VerifySession calls per CPU-second of the auth-verify process against
// the kit's Echo on the same process in the same run (target ratio >= 0.6). Two cases, each on its
// own auth-verify process and each against that process's own Echo:
// - warm cache: the same 100 users' tokens verified over and over (the real hot path: a user's
//   token is verified on every request), so after the first verify of each token every call is
//   answered from auth-verify's cache without a call to session;
// - cache miss: VERIFY_CACHE_TTL=0, so every call is a served call plus a grpc-js call to
//   session.GetSession (what any first verify of a token, or any verify while the cache's feed is
//   down, costs).
// Session's, Redis's and Kafka's CPU are not counted. Needs REDIS_URL and KAFKA_BROKERS
// (`npm run bench` provides them).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  AuthVerifyService,
  EchoRequestSchema,
  SessionService,
  VerifySessionRequestSchema,
} from '@wxmesh/contracts';
import { asPeer, freePort, waitFor } from '@wxmesh/testing';
import {
  bundle,
  callsPerCpuSecond,
  serviceBenchOptions,
  encodeRequest,
  otlpSink,
  spawnService,
} from './service-bench.js';

const OPTIONS = serviceBenchOptions('auth');
const APPID = 'wx0123456789abcdef';
const dir = fileURLToPath(new URL('../../tmp/bench/auth-secrets/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}app-secret`, `${APPID}=${randomBytes(16).toString('hex')}\n`);
writeFileSync(`${dir}key`, randomBytes(32).toString('base64'));

const sink = await otlpSink();
const session = await spawnService(bundle('services/session/src/main.ts', 'session.mjs'), {
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
});
// Bundled into the service's own dist/ (as production builds are) so its third-party imports
// resolve from services/auth-verify/node_modules: it needs lru-cache 11, while the root
// node_modules holds the lru-cache 5 that the build tools depend on.
const authBundle = bundle(
  'services/auth-verify/src/main.ts',
  '../../services/auth-verify/dist/bench-main.mjs',
);
const startAuth = async (env: Record<string, string>) => {
  const httpPort = await freePort();
  const p = await spawnService(authBundle, {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    SESSION_ADDR: session.address,
    WECHAT_APP_SECRET_FILE: `${dir}app-secret`,
    SESSION_KEY_ENCRYPTION_KEY_FILE: `${dir}key`,
    HTTP_PORT: String(httpPort),
    ...env,
  });
  return { ...p, metricsUrl: `http://127.0.0.1:${httpPort}/metrics` };
};
const cached = await startAuth({});
const uncached = await startAuth({ VERIFY_CACHE_TTL: '0' });
// Sessions are created as auth-verify creates them: CreateSession is served to that peer only.
const sessions = createClient(
  SessionService,
  createGrpcTransport({ baseUrl: `http://${session.address}`, interceptors: [asPeer('auth-verify')] }),
);

/** The sum of a metric's samples whose label set contains `labels` (e.g. `result="hit"`). */
async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}
const answers = (p: Promise<unknown>) =>
  p.then(
    () => true,
    () => false,
  );
await waitFor(() => answers(sessions.createSession({ appid: APPID, openid: 'o_authbench_probe' })), {
  timeoutMs: 30_000,
  message: 'session answers',
});
// Sessions are created directly at session: the benchmark measures VerifySession, not WeChat.
const tokens = await Promise.all(
  Array.from(
    { length: 100 },
    async (_, i) =>
      (await sessions.createSession({ appid: APPID, openid: `o_authbench_${process.pid}_${i}` }))
        .sessionToken,
  ),
);
for (const p of [cached, uncached]) {
  const client = createClient(AuthVerifyService, createGrpcTransport({ baseUrl: `http://${p.address}` }));
  await waitFor(() => answers(client.verifySession({ sessionToken: tokens[0]! })), {
    timeoutMs: 30_000,
    message: 'auth-verify answers',
  });
}
// The cache serves only once its SessionEnded feed has joined and fetched.
await waitFor(async () => (await metric(cached.metricsUrl, 'wxmesh_auth_verify_cache_feed_healthy')) === 1, {
  timeoutMs: 30_000,
  message: 'the verify cache feed is healthy',
});

const echo = {
  path: '/wxmesh.echo.v1.EchoService/Echo',
  bodies: [encodeRequest(EchoRequestSchema, { message: 'benchmark payload' })],
};
const verifySession = {
  path: '/wxmesh.auth.v1.AuthVerifyService/VerifySession',
  bodies: tokens.map((sessionToken) => encodeRequest(VerifySessionRequestSchema, { sessionToken })),
};
const lookups = async () => ({
  hits: await metric(cached.metricsUrl, 'wxmesh_auth_verify_cache_lookups_total', 'result="hit"'),
  all: await metric(cached.metricsUrl, 'wxmesh_auth_verify_cache_lookups_total'),
});
const before = await lookups();
const warm = await callsPerCpuSecond(cached.child.pid!, cached.address, { echo, verifySession }, OPTIONS);
const after = await lookups();
const hitRate = (after.hits - before.hits) / (after.all - before.all);
const miss = await callsPerCpuSecond(uncached.child.pid!, uncached.address, { echo, verifySession }, OPTIONS);
for (const p of [cached, uncached, session]) {
  p.child.kill('SIGTERM');
  await new Promise((resolve) => p.child.once('exit', resolve));
}
sink.server.close();

console.log(
  `auth-verify bench: ${OPTIONS.rounds} rounds x ${OPTIONS.calls} unary calls, concurrency ${OPTIONS.concurrency}, auth-verify process CPU only`,
);
const row = (label: string, value: number, echoValue: number, note: string) =>
  console.log(
    `  ${label.padEnd(34)}${value.toFixed(0).padStart(7)} calls/CPU-s   ratio vs Echo: ${(value / echoValue).toFixed(2)}${note}`,
  );
console.log(`  Echo (kit baseline, cache process) ${warm.echo!.toFixed(0).padStart(7)} calls/CPU-s`);
row(
  'VerifySession, warm cache',
  warm.verifySession!,
  warm.echo!,
  ` (target >= 0.6); cache hit rate ${(hitRate * 100).toFixed(1)}% (${tokens.length} tokens, each verified repeatedly)`,
);
console.log(`  Echo (kit baseline, no-cache process) ${miss.echo!.toFixed(0).padStart(4)} calls/CPU-s`);
row(
  'VerifySession, cache miss',
  miss.verifySession!,
  miss.echo!,
  ' (VERIFY_CACHE_TTL=0: every call goes to session.GetSession)',
);
