// The cost of who is calling: one EDGE RPC (behaviour-projector's GetUserJourney) called over the
// edge as the cloud gateway calls it (Connect JSON over HTTP/1.1, the user in X-WX-*), against the
// same RPC with `Authorization: Bearer <session token>`, which the kit verifies before the handler
// runs: in the projector itself, against its warm session-token cache (@wxmesh/session-tokens) in
// front of auth-verify.VerifySession, which is asked only on a miss. Target: the Bearer path costs at
// most 1.15x the gateway path. Measured as calls per CPU-second of every process the call touches
// (projector + auth-verify; session is not reached on a cache hit), interleaved rounds, medians; also
// the projector's own CPU alone, and the projector cache's hit rate over the timed Bearer rounds.
// Needs REDIS_URL and KAFKA_BROKERS.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { AuthVerifyService, SessionService } from '@wxmesh/contracts';
import { asPeer, freePort, startServiceProcess, waitFor } from '@wxmesh/testing';
import { bundle, cpuSeconds, otlpSink, serviceBenchOptions, spawnService } from './service-bench.js';

// 7 rounds by default, not 3: the cache's 30 s TTL expires every token about once every three Bearer
// rounds (a round of misses, each a VerifySession), and the machine's round-to-round noise is near 10%.
const OPTIONS = { ...serviceBenchOptions('callers'), rounds: Number(process.env.BENCH_ROUNDS ?? 7) };
const APPID = 'wx0123456789abcdef';
const USERS = 100;
const dir = fileURLToPath(new URL('../../tmp/bench/callers-secrets/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}app-secret`, `${APPID}=${randomBytes(16).toString('hex')}\n`);
writeFileSync(`${dir}key`, randomBytes(32).toString('base64'));

const sink = await otlpSink();
const session = await spawnService(bundle('services/session/src/main.ts', 'session.mjs'), {
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
});
// Bundled into its own dist/ for its lru-cache 11 (see auth.ts).
const auth = await spawnService(
  bundle('services/auth-verify/src/main.ts', '../../services/auth-verify/dist/bench-main.mjs'),
  {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    SESSION_ADDR: session.address,
    WECHAT_APP_SECRET_FILE: `${dir}app-secret`,
    SESSION_KEY_ENCRYPTION_KEY_FILE: `${dir}key`,
  },
);
const projectorPort = await freePort();
// Bundled into its own dist/ too: the session-token cache needs lru-cache 11 (see auth.ts).
const projector = await startServiceProcess('behaviour-projector', {
  env: {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    AUTH_VERIFY_ADDR: auth.address,
    EDGE_BEHIND_GATEWAY: 'true',
    HTTP_PORT: String(projectorPort),
    CONSUMER_GROUP: `bench-callers-${process.pid}`,
    KEY_PREFIX: `wxm:bench:callers:${process.pid}:`,
  },
  bundle: bundle(
    'services/behaviour-projector/src/main.ts',
    '../../services/behaviour-projector/dist/bench-main.mjs',
  ),
  timeoutMs: 120_000,
});

const sessions = createClient(
  SessionService,
  createGrpcTransport({ baseUrl: `http://${session.address}`, interceptors: [asPeer('auth-verify')] }),
);
const verifier = createClient(AuthVerifyService, createGrpcTransport({ baseUrl: `http://${auth.address}` }));
const users = await waitFor(
  () =>
    Promise.all(
      Array.from({ length: USERS }, async (_, i) => {
        const openid = `o_callers_${process.pid}_${i}`;
        return { openid, token: (await sessions.createSession({ appid: APPID, openid })).sessionToken };
      }),
    ).catch(() => undefined),
  { timeoutMs: 30_000, intervalMs: 200, message: 'session answers' },
);
await waitFor(() => verifier.verifySession({ sessionToken: users[0]!.token }).catch(() => undefined), {
  timeoutMs: 30_000,
  intervalMs: 200,
  message: 'auth-verify answers',
});

/** The sum of the projector's samples of a metric whose label set contains `labels`. */
async function projectorMetric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${projector.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name && (match[2] ?? '').includes(labels)) sum += Number(match[3]);
  }
  return sum;
}
const cacheLookups = async () => ({
  hits: await projectorMetric('wxmesh_session_token_cache_lookups_total', 'result="hit"'),
  all: await projectorMetric('wxmesh_session_token_cache_lookups_total'),
});
// The projector's cache serves only once its SessionEnded feed has joined and fetched.
await waitFor(async () => (await projectorMetric('wxmesh_session_token_cache_feed_healthy')) === 1, {
  timeoutMs: 60_000,
  intervalMs: 200,
  message: "the projector's session-token cache feed is healthy",
});

const agent = new Agent({ keepAlive: true, maxSockets: OPTIONS.concurrency });
const PATH = '/wxmesh.behaviour.v1.BehaviourViewService/GetUserJourney';

/** One Connect JSON call as the cloud gateway makes it; rejects unless it answered 200. */
function call(headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: projectorPort, method: 'POST', path: PATH, agent, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve()
            : reject(new Error(`${res.statusCode} ${Buffer.concat(chunks)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

type Workload = (i: number) => Record<string, string>;
const json = { 'content-type': 'application/json' };
const WORKLOADS: Record<string, Workload> = {
  gateway: (i) => ({ ...json, 'x-wx-openid': users[i % USERS]!.openid, 'x-wx-appid': APPID }),
  bearer: (i) => ({ ...json, authorization: `Bearer ${users[i % USERS]!.token}` }),
};

async function drive(workload: Workload, calls: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < calls) await call(workload(next++));
  };
  await Promise.all(Array.from({ length: OPTIONS.concurrency }, worker));
}

const pids = { projector: projector.child.pid!, auth: auth.child.pid! };
for (const workload of Object.values(WORKLOADS)) await drive(workload, 2_000);
const samples: Record<string, { all: number[]; projector: number[]; cpu: number }> = {};
const lookupsBefore = await cacheLookups();
for (let round = 0; round < OPTIONS.rounds; round++) {
  for (const [name, workload] of Object.entries(WORKLOADS)) {
    const before = { projector: cpuSeconds(pids.projector), auth: cpuSeconds(pids.auth) };
    await drive(workload, OPTIONS.calls);
    const spent = {
      projector: cpuSeconds(pids.projector) - before.projector,
      auth: cpuSeconds(pids.auth) - before.auth,
    };
    const sample = (samples[name] ??= { all: [], projector: [], cpu: 0 });
    sample.cpu += spent.projector + spent.auth;
    sample.all.push(OPTIONS.calls / (spent.projector + spent.auth));
    sample.projector.push(OPTIONS.calls / spent.projector);
  }
}
const lookupsAfter = await cacheLookups();
agent.destroy();
projector.child.kill('SIGTERM');
for (const p of [auth, session]) p.child.kill('SIGTERM');
await Promise.all([
  projector.exited,
  ...[auth, session].map((p) => new Promise((r) => p.child.once('exit', r))),
]);
sink.server.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gateway = { all: median(samples.gateway!.all), projector: median(samples.gateway!.projector) };
const bearer = { all: median(samples.bearer!.all), projector: median(samples.bearer!.projector) };
const timedLookups = lookupsAfter.all - lookupsBefore.all;
const hitRate = timedLookups === 0 ? 0 : (lookupsAfter.hits - lookupsBefore.hits) / timedLookups;
console.log(
  `callers bench: GetUserJourney over the edge (Connect JSON, HTTP/1.1), ${OPTIONS.rounds} rounds x ${OPTIONS.calls} calls, concurrency ${OPTIONS.concurrency}, ${USERS} users`,
);
console.log(
  `  gateway headers (X-WX-*)       ${gateway.all.toFixed(0).padStart(6)} calls/CPU-s (projector + auth-verify)   ${gateway.projector.toFixed(0).padStart(6)} (projector alone)`,
);
console.log(
  `  Bearer token (cached verify)   ${bearer.all.toFixed(0).padStart(6)} calls/CPU-s (projector + auth-verify)   ${bearer.projector.toFixed(0).padStart(6)} (projector alone)`,
);
console.log(
  `  cost of the Bearer path: ${(gateway.all / bearer.all).toFixed(2)}x the gateway path (target <= 1.15); projector alone ${(gateway.projector / bearer.projector).toFixed(2)}x`,
);
console.log(
  `  over all rounds (the rounds of TTL-expiry misses included): ${(samples.bearer!.cpu / samples.gateway!.cpu).toFixed(2)}x`,
);
console.log(
  `  projector session-token cache: ${(hitRate * 100).toFixed(2)}% hits over the timed Bearer calls (${timedLookups} lookups)`,
);
