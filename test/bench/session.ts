// Session service throughput: calls per CPU-second of the session process for GetSession and
// GetPresenceBatch(100), against the kit's Echo on the same process in the same run (the kit's
// baseline: same transport, interceptors and tracing, no domain work). The service runs as in
// production (esbuild bundle, plain node, tracing on with batch OTLP export to a local sink);
// its CPU is read from /proc, so neither the load generator nor Redis is counted.
// Needs REDIS_URL and KAFKA_BROKERS (`npm run bench` provides them).
import { execFileSync, spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  EchoRequestSchema,
  GetPresenceBatchRequestSchema,
  GetSessionRequestSchema,
  SessionService,
} from '@wxmesh/contracts';
import { freePort, waitFor } from '@wxmesh/testing';

const CALLS = Number(process.env.BENCH_CALLS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const { REDIS_URL, KAFKA_BROKERS } = process.env;
if (!REDIS_URL || !KAFKA_BROKERS) {
  console.error('session bench: REDIS_URL and KAFKA_BROKERS must be set (run it through `npm run bench`)');
  process.exit(2);
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux
function cpuSeconds(pid: number): number {
  // /proc/<pid>/stat: fields 14 and 15 are utime and stime in clock ticks (after the `(comm)` field).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

const bundle = fileURLToPath(new URL('../../tmp/bench/session.mjs', import.meta.url));
execFileSync(
  process.execPath,
  [
    '--import',
    'tsx',
    fileURLToPath(new URL('../../scripts/build.ts', import.meta.url)),
    fileURLToPath(new URL('../../services/session/src/main.ts', import.meta.url)),
    bundle,
  ],
  { stdio: 'inherit' },
);

const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));

const grpcPort = await freePort();
const service = spawn(process.execPath, [bundle], {
  env: {
    ...process.env,
    HOST: '127.0.0.1',
    GRPC_PORT: String(grpcPort),
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const address = `127.0.0.1:${grpcPort}`;
const sessions = createClient(SessionService, createGrpcTransport({ baseUrl: `http://${address}` }));
await waitFor(
  () =>
    sessions.listSessions({ openid: 'bench-probe' }).then(
      () => true,
      () => false,
    ),
  { timeoutMs: 30_000, message: 'the session service answers' },
);

// Fixtures: 100 users with a session each, half of them attached (a presence read then sees
// both live channels and offline users).
const openids = Array.from({ length: 100 }, (_, i) => `o_bench_${process.pid}_${i}`);
const tokens = await Promise.all(
  openids.map(
    async (openid) => (await sessions.createSession({ appid: 'wx0123456789abcdef', openid })).sessionToken,
  ),
);
const attachments = new AbortController();
setMaxListeners(0, attachments.signal);
for (const token of tokens.slice(0, 50)) {
  void (async () => {
    try {
      for await (const _ of sessions.attach({ sessionToken: token }, { signal: attachments.signal }));
    } catch {
      // ended by the abort at the end of the run
    }
  })();
}

function request<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Buffer {
  return Buffer.from(toBinary(schema, create(schema, init)));
}

const workloads = {
  echo: {
    path: '/wxmesh.echo.v1.EchoService/Echo',
    body: () => request(EchoRequestSchema, { message: 'benchmark payload' }),
  },
  getSession: {
    path: '/wxmesh.session.v1.SessionService/GetSession',
    body: (i: number) => request(GetSessionRequestSchema, { sessionToken: tokens[i % tokens.length]! }),
  },
  getPresenceBatch100: {
    path: '/wxmesh.session.v1.SessionService/GetPresenceBatch',
    body: () => request(GetPresenceBatchRequestSchema, { openids }),
  },
};

async function load(
  client: grpc.Client,
  workload: (typeof workloads)[keyof typeof workloads],
  calls: number,
) {
  const bodies = Array.from({ length: 100 }, (_, i) => workload.body(i));
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      const body = bodies[next++ % bodies.length]!;
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(
          workload.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const client = new grpc.Client(address, grpc.credentials.createInsecure());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const perCpuSecond: Record<string, number[]> = {};
for (const workload of Object.values(workloads)) await load(client, workload, 2_000); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, workload] of Object.entries(workloads)) {
    const before = cpuSeconds(service.pid!);
    await load(client, workload, CALLS);
    (perCpuSecond[name] ??= []).push(CALLS / (cpuSeconds(service.pid!) - before));
  }
}
client.close();
attachments.abort();
service.kill('SIGTERM');
await new Promise((resolve) => service.once('exit', resolve));
sink.close();

const echo = median(perCpuSecond.echo!);
console.log(
  `session bench: ${ROUNDS} rounds x ${CALLS} unary calls, concurrency ${CONCURRENCY}, session process CPU only`,
);
console.log(`  Echo (kit baseline):     ${echo.toFixed(0).padStart(7)} calls/CPU-s`);
for (const name of ['getSession', 'getPresenceBatch100']) {
  const value = median(perCpuSecond[name]!);
  console.log(
    `  ${name.padEnd(24)} ${value.toFixed(0).padStart(7)} calls/CPU-s   ratio vs Echo: ${(value / echo).toFixed(2)}`,
  );
}
