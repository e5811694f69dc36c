// Start-up cost of every service against a bare connect-node hello server measured in the same
// run (test/bench/bare-hello-server.ts): the time from spawn to the first successful gRPC Echo on
// the grpc port, measured at the client, and the resident set size after ~3 s idle (VmRSS).
// Targets: at most 1.5x the bare server's time and 2x its RSS.
// Each service is spawned by libs/testing's startServiceProcess (as `npm start` spawns it, with
// the environment `npm start` gives it, peers left unstarted), the bare server with the same node
// and loader flags. Two modes, as an A/B in the same run: `tsx` (TypeScript source through the tsx
// loader, as `npm start` and the tests run it) and `bundle` (scripts/build.ts's esbuild bundle on
// plain node, as production images run it); each mode has its own bare baseline, spawned the same
// way. Rounds run one process at a time, in an order rotated every round, and medians are shown.
// Needs REDIS_URL and KAFKA_BROKERS (`npm run bench` provides them).
//
//   npm run infra -- node --import tsx test/bench/startup.ts
//   BENCH_STARTUP_ROUNDS=3  BENCH_STARTUP_MODES=tsx,bundle  BENCH_STARTUP_IDLE_MS=3000
//   BENCH_STARTUP_SERVICES=session,auth-verify (a subset)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as idle } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { EchoRequestSchema } from '@wxmesh/contracts';
import { freePort, onExitCleanup, scaledTimeout, startServiceProcess, waitFor } from '@wxmesh/testing';
import { payKeys } from '../support/pay-keys.js';
import { bundle, encodeRequest, serviceBenchOptions } from './service-bench.js';

const ALL_SERVICES = [
  'auth-verify',
  'session',
  'message-router',
  'payment-callback',
  'behaviour-projector',
  'wechat-sandbox',
] as const;
const TARGET = { time: 1.5, rss: 2 };
const BARE = 'bare connect-node';
const APPID = 'wx0123456789abcdef';

serviceBenchOptions('startup');
const ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS ?? 3);
const IDLE_MS = Number(process.env.BENCH_STARTUP_IDLE_MS ?? 3_000);
const MODES = (process.env.BENCH_STARTUP_MODES ?? 'tsx,bundle').split(',') as Mode[];
const SERVICES = process.env.BENCH_STARTUP_SERVICES?.split(',') ?? [...ALL_SERVICES];
type Mode = 'tsx' | 'bundle';

const testDir = fileURLToPath(new URL('..', import.meta.url));
const bareSource = fileURLToPath(new URL('bare-hello-server.ts', import.meta.url));

/** One start of one process: spawn to first Echo, and VmRSS after the idle time. */
interface Sample {
  readonly firstEchoMs: number;
  readonly rssKiB: number;
}

/**
 * Spawns one process on a given grpc port, handing it to `onSpawn` at once; the promise rejects
 * if the start fails (a service that exits before it serves).
 */
type Starter = (grpcPort: number, onSpawn: (child: ChildProcess) => void) => Promise<unknown>;

/**
 * The environment `npm start` gives the services (scripts/start.ts): dev secrets, the sandbox's
 * apps, peers' addresses, the edge behind the gateway and declared peers. The peers are not
 * running (a service must start without them), so every address is one closed local port.
 */
async function meshEnv(): Promise<Record<string, string>> {
  const dir = fileURLToPath(new URL('../../tmp/bench/startup-secrets/', import.meta.url));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const appSecret = randomBytes(16).toString('hex');
  writeFileSync(`${dir}app-secret`, `${APPID}=${appSecret}\n`, { mode: 0o600 });
  writeFileSync(`${dir}key`, randomBytes(32).toString('base64'), { mode: 0o600 });
  const pay = await payKeys(`${dir}pay`);
  const closed = `127.0.0.1:${await freePort()}`;
  const peers = Object.fromEntries(
    ALL_SERVICES.map((name) => [`${name.toUpperCase().replace(/-/g, '_')}_ADDR`, closed]),
  );
  return {
    ...peers,
    ...pay.paymentCallback,
    ...pay.sandbox,
    WECHATPAY_BASE_URL: `http://${closed}`,
    WECHATPAY_NOTIFY_URL: `http://${closed}/webhooks/wechatpay/notify`,
    WECHAT_API_BASE_URL: `http://${closed}`,
    WECHAT_APP_SECRET_FILE: `${dir}app-secret`,
    SESSION_KEY_ENCRYPTION_KEY_FILE: `${dir}key`,
    SANDBOX_APPS: `${APPID}:${appSecret}`,
    EDGE_BEHIND_GATEWAY: 'true',
    PEER_IDENTITY: 'declared',
    LOG_LEVEL: 'info',
    DRAIN_DELAY_MS: '0',
  };
}

/**
 * Spawns the bare server as libs/testing's startServiceProcess spawns a service: the same node,
 * `--import tsx` on the source or the bundle on plain node, NODE_OPTIONS passed on, output piped.
 */
function bareStarter(entry: string[]): Starter {
  return async (grpcPort, onSpawn) => {
    const child = spawn(process.execPath, entry, {
      cwd: testDir,
      env: { ...process.env, HOST: '127.0.0.1', GRPC_PORT: String(grpcPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn(child);
    // Killed if this process exits while it runs, as startServiceProcess does for a service.
    const forget = onExitCleanup(() => child.kill('SIGKILL'));
    child.once('exit', forget);
    child.stdout!.resume();
    child.stderr!.resume();
  };
}

function serviceStarter(name: string, env: Record<string, string>, bundlePath?: string): Starter {
  return (grpcPort, onSpawn) =>
    startServiceProcess(name, { env: { ...env, GRPC_PORT: String(grpcPort) }, bundle: bundlePath, onSpawn });
}

/** Resolves once one unary Echo succeeds on `port`; each try is a fresh channel, so no backoff. */
function firstEcho(port: number, signal: AbortSignal): Promise<true> {
  const body = encodeRequest(EchoRequestSchema, { message: 'startup probe' });
  const echo = () =>
    new Promise<true>((resolve, reject) => {
      const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      client.makeUnaryRequest(
        '/wxmesh.echo.v1.EchoService/Echo',
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        (err) => {
          client.close();
          if (err) reject(err);
          else resolve(true);
        },
      );
    });
  return waitFor(echo, {
    timeoutMs: scaledTimeout(60_000),
    intervalMs: 5,
    message: `the first Echo on port ${port}`,
    signal,
  });
}

/** VmRSS of a process in KiB, from /proc/<pid>/status. */
function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line!.split(/\s+/)[1]);
}

/** SIGTERM, then resolves once the process is gone (a service leaves its Kafka groups first). */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * Starts one process and times it to its first Echo; then, while it idles, waits for the process
 * measured before it (`previous`) to finish stopping — so no stop overlaps a start — reads its
 * RSS and begins stopping it. Resolves with the sample and the stop under way.
 */
async function sample(start: Starter, previous: Promise<void>): Promise<[Sample, Promise<void>]> {
  const grpcPort = await freePort();
  const exited = new AbortController();
  let child: ChildProcess | undefined;
  const began = performance.now();
  const started = start(grpcPort, (spawned) => {
    child = spawned;
    spawned.once('exit', (code, sig) => exited.abort(new Error(`exited (${code ?? sig}) before serving`)));
  });
  try {
    const [answered] = await Promise.all([
      firstEcho(grpcPort, exited.signal).then(() => performance.now()),
      started,
    ]);
    await Promise.all([idle(IDLE_MS), previous]);
    return [{ firstEchoMs: answered - began, rssKiB: rssKiB(child!.pid!) }, stop(child!)];
  } catch (err) {
    if (child) await stop(child);
    throw err;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The starters of every measured process, keyed `<mode> <name>`, the bare baselines first. */
async function starters(): Promise<Map<string, Starter>> {
  const env = await meshEnv();
  const all = new Map<string, Starter>();
  for (const mode of MODES) {
    const bareBundle = mode === 'bundle' ? bundle('test/bench/bare-hello-server.ts', 'bare-hello.mjs') : '';
    all.set(`${mode} ${BARE}`, bareStarter(mode === 'tsx' ? ['--import', 'tsx', bareSource] : [bareBundle]));
    for (const name of SERVICES) {
      // In the service's own dist/, so its own node_modules resolve (as in test/bench/auth.ts).
      const out = `../../services/${name}/dist/bench-startup.mjs`;
      const path = mode === 'bundle' ? bundle(`services/${name}/src/main.ts`, out) : undefined;
      all.set(`${mode} ${name}`, serviceStarter(name, env, path));
    }
  }
  return all;
}

/** Every process once per round, the order rotated each round so no one always follows another. */
async function measureAll(all: Map<string, Starter>): Promise<Map<string, Sample[]>> {
  const keys = [...all.keys()];
  const samples = new Map<string, Sample[]>(keys.map((key) => [key, []]));
  let previous = Promise.resolve();
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...keys.slice(round % keys.length), ...keys.slice(0, round % keys.length)];
    for (const key of order) {
      const [measured, stopping] = await sample(all.get(key)!, previous);
      samples.get(key)!.push(measured);
      previous = stopping;
    }
    process.stderr.write(`startup bench: round ${round + 1}/${ROUNDS} done\n`);
  }
  await previous;
  return samples;
}

/** A verdict against both targets, naming the ones missed. */
function verdict(timeRatio: number, rssRatio: number): string {
  const missed = [timeRatio > TARGET.time ? 'time' : '', rssRatio > TARGET.rss ? 'RSS' : ''].filter(Boolean);
  return missed.length === 0 ? 'pass' : `FAIL ${missed.join(' + ')}`;
}

/** Prints the table of medians and ratios; returns whether every service meets both targets. */
function report(samples: Map<string, Sample[]>): boolean {
  console.log(
    `startup bench: ${ROUNDS} rounds, medians (first Echo's range in brackets); spawn -> first gRPC Echo ` +
      `at the client, VmRSS after ${IDLE_MS} ms idle`,
  );
  console.log(
    `  targets: time <= ${TARGET.time}x and RSS <= ${TARGET.rss}x the bare server of the same mode\n`,
  );
  console.log(
    `  ${'mode'.padEnd(7)}${'process'.padEnd(20)}${'first Echo'.padStart(24)}${'ratio'.padStart(7)}` +
      `${'RSS'.padStart(11)}${'ratio'.padStart(7)}   verdict`,
  );
  let allPass = true;
  for (const mode of MODES) {
    const bare = samples.get(`${mode} ${BARE}`)!;
    const bareMs = median(bare.map((s) => s.firstEchoMs));
    const bareRss = median(bare.map((s) => s.rssKiB));
    for (const name of [BARE, ...SERVICES]) {
      const times = samples.get(`${mode} ${name}`)!.map((s) => s.firstEchoMs);
      const ms = median(times);
      const rss = median(samples.get(`${mode} ${name}`)!.map((s) => s.rssKiB));
      const range = `(${Math.min(...times).toFixed(0)}-${Math.max(...times).toFixed(0)})`;
      const judged = name === BARE ? 'baseline' : verdict(ms / bareMs, rss / bareRss);
      if (name !== BARE) allPass &&= judged === 'pass';
      console.log(
        `  ${mode.padEnd(7)}${name.padEnd(20)}${`${ms.toFixed(0)} ms ${range}`.padStart(24)}` +
          `${(ms / bareMs).toFixed(2).padStart(7)}${`${(rss / 1024).toFixed(1)} MiB`.padStart(11)}` +
          `${(rss / bareRss).toFixed(2).padStart(7)}   ${judged}`,
      );
    }
  }
  return allPass;
}

const began = performance.now();
const pass = report(await measureAll(await starters()));
console.log(
  `\n  ${pass ? 'every service meets both targets' : 'some services miss a target'} ` +
    `(took ${((performance.now() - began) / 1000).toFixed(0)} s)`,
);
