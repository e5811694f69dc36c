// `npm run bench:kit`: CPU microseconds per unary call on the kit's grpc port (tracing on, spans
// batched and exported over OTLP) against a bare grpc-js echo server, measured in the same run.
// Each server runs in its own process and reports its own CPU time, so the load generator's
// cost is not counted. Rounds rotate the servers to spread machine noise over all of them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { encode } from '../support/clients.js';
import { bundle } from './service-bench.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

// With two or more CPUs the servers run pinned to CPU 1 and this driver (the load generator) to
// CPU 0, so the measured server never competes with the client for a core: without it the
// per-call CPU of the same server varied by half between rounds.
const PIN = process.env.BENCH_PIN !== '0' && availableParallelism() >= 2 && hasTaskset();
function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface BenchServer {
  child: ChildProcess;
  port: number;
  cpu(): Promise<number>;
}

async function startServer(
  kind: 'kit' | 'kit-notrace' | 'bare' | 'bare-als',
  otlpEndpoint: string,
): Promise<BenchServer> {
  const node = [
    process.execPath,
    ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
    serverBundle,
    kind,
  ];
  const command = PIN ? ['taskset', '-c', '1', ...node] : node;
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, BENCH_OTLP_ENDPOINT: otlpEndpoint },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    child.once('message', (m) => resolve((m as { port: number }).port));
  });
  const cpu = () =>
    new Promise<number>((resolve) => {
      child.once('message', (m) => {
        const { user, system } = (m as { cpu: NodeJS.CpuUsage }).cpu;
        resolve(user + system);
      });
      child.send('cpu');
    });
  return { child, port, cpu };
}

async function load(port: number, calls: number): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const request = encode({ message: 'benchmark payload of a typical size' });
  const metadata = new grpc.Metadata();
  metadata.set('x-wxmesh-peer', 'bench-client');
  metadata.set('x-wx-openid', 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o');
  metadata.set('x-wx-appid', 'wx1234567890abcdef');
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(
          '/wxmesh.echo.v1.EchoService/Echo',
          (b: Buffer) => b,
          (b: Buffer) => b,
          request,
          metadata,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  client.close();
}

async function measure(server: BenchServer): Promise<number> {
  const before = await server.cpu();
  await load(server.port, CALLS);
  return (await server.cpu()) - before;
}

// Servers run as production does: bundled by esbuild and started with plain node (see scripts/build.ts).
const serverBundle = bundle('test/bench/bench-server.ts', 'bench-server.mjs');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The OTLP sink: accepts exported spans and counts the requests, so we can show tracing was on.
let exports = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const otlpEndpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

const kit = await startServer('kit', otlpEndpoint);
const untraced = await startServer('kit-notrace', otlpEndpoint);
const bare = await startServer('bare', otlpEndpoint);
const bareAls = await startServer('bare-als', otlpEndpoint);
for (const server of [kit, untraced, bare, bareAls]) await load(server.port, Math.min(5_000, CALLS));

const kitPerCall: number[] = [];
const untracedPerCall: number[] = [];
const barePerCall: number[] = [];
const bareAlsPerCall: number[] = [];
// The order rotates each round, so no server is always measured first (or right after another).
const order: [BenchServer, number[]][] = [
  [kit, kitPerCall],
  [untraced, untracedPerCall],
  [bare, barePerCall],
  [bareAls, bareAlsPerCall],
];
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < order.length; i++) {
    const [server, samples] = order[(round + i) % order.length]!;
    samples.push((await measure(server)) / CALLS);
  }
}
for (const server of [kit, untraced, bare, bareAls]) server.child.send('exit');
sink.close();

const kitUs = median(kitPerCall);
const untracedUs = median(untracedPerCall);
const bareUs = median(barePerCall);
const bareAlsUs = median(bareAlsPerCall);
console.log(
  `kit bench (Node ${process.versions.node}): ${ROUNDS} rounds x ${CALLS} unary calls, concurrency ${CONCURRENCY}, server CPU only` +
    (PIN ? ' (servers on CPU 1, load generator on CPU 0)' : ''),
);
console.log(
  `  kit grpc port (tracing on, batch OTLP export; ${exports} export requests): ${kitUs.toFixed(1)} µs CPU/call`,
);
console.log(
  `  kit grpc port, tracing off (no-op):                        ${untracedUs.toFixed(1)} µs CPU/call`,
);
console.log(`  bare grpc-js echo server:                                  ${bareUs.toFixed(1)} µs CPU/call`);
console.log(
  `  bare grpc-js, each call in an AsyncLocalStorage context:   ${bareAlsUs.toFixed(1)} µs CPU/call`,
);
console.log(`  ratio kit/bare: ${(kitUs / bareUs).toFixed(2)} (target <= 1.3)`);
console.log(`  ratio kit without tracing/bare: ${(untracedUs / bareUs).toFixed(2)}`);
console.log(`  ratio bare with AsyncLocalStorage/bare: ${(bareAlsUs / bareUs).toFixed(2)}`);
const rounds = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
console.log(
  `  rounds kit: ${rounds(kitPerCall)}  no-trace: ${rounds(untracedPerCall)}  bare: ${rounds(barePerCall)}` +
    `  bare+ALS: ${rounds(bareAlsPerCall)}`,
);
