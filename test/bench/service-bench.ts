// Shared parts of the benchmarks that measure a real service process: bundle it as production
// does, run it with tracing on (exported to a local OTLP sink), read its CPU time from /proc, and
// drive unary calls with a generic grpc-js client.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { freePort } from '@wxmesh/testing';

/**
 * Calls, concurrency and rounds of a service benchmark, overridable by BENCH_CALLS,
 * BENCH_CONCURRENCY and BENCH_ROUNDS. Exits with a message when Redis and Kafka are not given,
 * since the services need them (`npm run bench` provides both).
 */
export function serviceBenchOptions(name: string): { calls: number; concurrency: number; rounds: number } {
  if (!process.env.REDIS_URL || !process.env.KAFKA_BROKERS) {
    console.error(
      `${name} bench: REDIS_URL and KAFKA_BROKERS must be set (run it through \`npm run bench\`)`,
    );
    process.exit(2);
  }
  return {
    calls: Number(process.env.BENCH_CALLS ?? 10_000),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 32),
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  };
}

/** Bundles an entry point with scripts/build.ts (esbuild), as production images do. */
export function bundle(entry: string, out: string): string {
  const outPath = fileURLToPath(new URL(`../../tmp/bench/${out}`, import.meta.url));
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('../../scripts/build.ts', import.meta.url)),
      fileURLToPath(new URL(`../../${entry}`, import.meta.url)),
      outPath,
    ],
    { stdio: 'inherit' },
  );
  return outPath;
}

/** An OTLP/HTTP sink that accepts and discards spans, so tracing runs as in production. */
export async function otlpSink(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Starts a bundled service with plain node on a free grpc port. */
export async function spawnService(
  bundlePath: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; address: string }> {
  const port = await freePort();
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, bundlePath], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      GRPC_PORT: String(port),
      HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { child, address: `127.0.0.1:${port}` };
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds a process has used, from /proc/<pid>/stat (fields 14 and 15). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** A protobuf-es request encoded for a raw grpc-js call. */
export function encodeRequest<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Buffer {
  return Buffer.from(toBinary(schema, create(schema, init)));
}

/** A unary workload: the method path and request bodies to cycle through. */
export interface Workload {
  readonly path: string;
  readonly bodies: readonly Buffer[];
  /** Metadata sent with every call, e.g. the mesh peer an INTERNAL RPC is served to. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Runs `calls` unary calls with `concurrency` workers; rejects on the first failed call. */
export async function drive(client: grpc.Client, workload: Workload, calls: number, concurrency: number) {
  let next = 0;
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(workload.metadata ?? {})) metadata.set(name, value);
  const worker = async () => {
    while (next < calls) {
      const body = workload.bodies[next++ % workload.bodies.length]!;
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(
          workload.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          metadata,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Calls per CPU-second of `pid` for each workload, `rounds` times each (interleaved, after a
 * warm-up), returning the median per workload.
 */
export async function callsPerCpuSecond(
  pid: number,
  address: string,
  workloads: Record<string, Workload>,
  options: { calls: number; concurrency: number; rounds: number },
): Promise<Record<string, number>> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  for (const workload of Object.values(workloads)) await drive(client, workload, 2_000, options.concurrency);
  const samples: Record<string, number[]> = {};
  for (let round = 0; round < options.rounds; round++) {
    for (const [name, workload] of Object.entries(workloads)) {
      const before = cpuSeconds(pid);
      await drive(client, workload, options.calls, options.concurrency);
      (samples[name] ??= []).push(options.calls / (cpuSeconds(pid) - before));
    }
  }
  client.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, median(xs)]));
}
