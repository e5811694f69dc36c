// Session service throughput: calls per CPU-second of the session process for GetSession and
// GetPresenceBatch(100), against the kit's Echo on the same process in the same run (same
// transport, interceptors and tracing, no domain work). Neither the load generator nor Redis is
// counted. Needs REDIS_URL and KAFKA_BROKERS (`npm run bench` provides them).
import { setMaxListeners } from 'node:events';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import {
  EchoRequestSchema,
  GetPresenceBatchRequestSchema,
  GetSessionRequestSchema,
  SessionService,
} from '@wxmesh/contracts';
import { asPeer, freePort, waitFor, withBearer } from '@wxmesh/testing';
import {
  bundle,
  callsPerCpuSecond,
  serviceBenchOptions,
  encodeRequest,
  otlpSink,
  spawnService,
} from './service-bench.js';

const OPTIONS = serviceBenchOptions('session');

const sink = await otlpSink();
const httpPort = await freePort();
const service = await spawnService(bundle('services/session/src/main.ts', 'session.mjs'), {
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
  HTTP_PORT: String(httpPort),
});
// CreateSession is served to auth-verify, as in the mesh.
const sessions = createClient(
  SessionService,
  createGrpcTransport({ baseUrl: `http://${service.address}`, interceptors: [asPeer('auth-verify')] }),
);
await waitFor(
  () =>
    sessions.getSession({ sessionToken: 'bench-probe' }).then(
      () => true,
      // NotFound is an answer: the service is up.
      (err: { code?: number }) => err.code === 5,
    ),
  { timeoutMs: 30_000, message: 'the session service answers' },
);

// 100 users with a session each, half of them attached: a presence read sees both kinds.
const openids = Array.from({ length: 100 }, (_, i) => `o_bench_${process.pid}_${i}`);
const tokens = await Promise.all(
  openids.map(
    async (openid) => (await sessions.createSession({ appid: 'wx0123456789abcdef', openid })).sessionToken,
  ),
);
const attachments = new AbortController();
setMaxListeners(0, attachments.signal);
for (const token of tokens.slice(0, 50)) {
  // Attach is the user's own channel, at the edge, with the token from Login.
  const user = createClient(
    SessionService,
    createConnectTransport({
      baseUrl: `http://127.0.0.1:${httpPort}`,
      httpVersion: '1.1',
      interceptors: [withBearer(token)],
    }),
  );
  void (async () => {
    try {
      for await (const _ of user.attach({ sessionToken: token }, { signal: attachments.signal }));
    } catch {
      // ended by the abort at the end of the run
    }
  })();
}

const results = await callsPerCpuSecond(
  service.child.pid!,
  service.address,
  {
    echo: {
      path: '/wxmesh.echo.v1.EchoService/Echo',
      bodies: [encodeRequest(EchoRequestSchema, { message: 'benchmark payload' })],
    },
    getSession: {
      path: '/wxmesh.session.v1.SessionService/GetSession',
      bodies: tokens.map((sessionToken) => encodeRequest(GetSessionRequestSchema, { sessionToken })),
      metadata: { 'x-wxmesh-peer': 'auth-verify' },
    },
    getPresenceBatch100: {
      path: '/wxmesh.session.v1.SessionService/GetPresenceBatch',
      bodies: [encodeRequest(GetPresenceBatchRequestSchema, { openids })],
      metadata: { 'x-wxmesh-peer': 'message-router' },
    },
  },
  OPTIONS,
);
attachments.abort();
service.child.kill('SIGTERM');
await new Promise((resolve) => service.child.once('exit', resolve));
sink.server.close();

console.log(
  `session bench: ${OPTIONS.rounds} rounds x ${OPTIONS.calls} unary calls, concurrency ${OPTIONS.concurrency}, session process CPU only`,
);
console.log(`  Echo (kit baseline)       ${results.echo!.toFixed(0).padStart(7)} calls/CPU-s`);
for (const name of ['getSession', 'getPresenceBatch100']) {
  console.log(
    `  ${name.padEnd(25)} ${results[name]!.toFixed(0).padStart(7)} calls/CPU-s   ratio vs Echo: ${(results[name]! / results.echo!).toFixed(2)}`,
  );
}
