// auth-verify's hot path: VerifySession calls per CPU-second of the auth-verify process against
// the kit's Echo on the same process in the same run (target ratio >= 0.6: VerifySession adds a
// gRPC round trip to session, which does one Redis read). Session's and Redis's CPU are not
// counted. Needs REDIS_URL and KAFKA_BROKERS (`npm run bench` provides them).
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
import { waitFor } from '@wxmesh/testing';
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
const auth = await spawnService(bundle('services/auth-verify/src/main.ts', 'auth-verify.mjs'), {
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
  SESSION_ADDR: session.address,
  WECHAT_APP_SECRET_FILE: `${dir}app-secret`,
  SESSION_KEY_ENCRYPTION_KEY_FILE: `${dir}key`,
});
const sessions = createClient(SessionService, createGrpcTransport({ baseUrl: `http://${session.address}` }));
const authClient = createClient(
  AuthVerifyService,
  createGrpcTransport({ baseUrl: `http://${auth.address}` }),
);
const answers = (p: Promise<unknown>) =>
  p.then(
    () => true,
    () => false,
  );
await waitFor(() => answers(sessions.listSessions({ openid: 'bench-probe' })), {
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
await waitFor(() => answers(authClient.verifySession({ sessionToken: tokens[0]! })), {
  timeoutMs: 30_000,
  message: 'auth-verify answers',
});

const results = await callsPerCpuSecond(
  auth.child.pid!,
  auth.address,
  {
    echo: {
      path: '/wxmesh.echo.v1.EchoService/Echo',
      bodies: [encodeRequest(EchoRequestSchema, { message: 'benchmark payload' })],
    },
    verifySession: {
      path: '/wxmesh.auth.v1.AuthVerifyService/VerifySession',
      bodies: tokens.map((sessionToken) => encodeRequest(VerifySessionRequestSchema, { sessionToken })),
    },
  },
  OPTIONS,
);
for (const p of [auth, session]) {
  p.child.kill('SIGTERM');
  await new Promise((resolve) => p.child.once('exit', resolve));
}
sink.server.close();

console.log(
  `auth-verify bench: ${OPTIONS.rounds} rounds x ${OPTIONS.calls} unary calls, concurrency ${OPTIONS.concurrency}, auth-verify process CPU only`,
);
console.log(`  Echo (kit baseline)   ${results.echo!.toFixed(0).padStart(7)} calls/CPU-s`);
console.log(
  `  VerifySession         ${results.verifySession!.toFixed(0).padStart(7)} calls/CPU-s   ratio vs Echo: ${(results.verifySession! / results.echo!).toFixed(2)} (target >= 0.6)`,
);
