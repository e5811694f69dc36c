import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { onExitCleanup } from './exit-cleanup.js';
import { freePort } from './free-port.js';
import { once, tailFile } from './host-tools.js';
import { ensureJaeger } from './jaeger-build.js';
import { describeScaledLimit, scaledDeadline } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

/** Options of {@link startJaeger}. */
export interface StartJaegerOptions {
  /** Progress lines of the first-time build; default: stderr. */
  progress?: (line: string) => void;
  /** Abandons the build or the start; a started Jaeger is stopped again. */
  signal?: AbortSignal;
  /** Port of the query API and UI; default: a free one. `npm run jaeger` uses Jaeger's usual 16686. */
  queryPort?: number;
  /** Port of the OTLP/HTTP receiver; default: a free one. `npm run jaeger` uses the usual 4318. */
  otlpHttpPort?: number;
  /** How long Jaeger may take to answer on an idle machine (default 20 s), scaled by the load. */
  startTimeoutMs?: number;
}

/** A running Jaeger owned by the caller. */
export interface JaegerServer {
  /** OTLP/HTTP base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it: spans go to `<it>/v1/traces`. */
  otlpEndpoint: string;
  /** Base URL of the query API (`/api/traces/<id>`) and the UI. */
  queryUrl: string;
  /** Jaeger's own log (in a temporary directory that stop() removes). */
  logFile: string;
  /** SIGTERM, SIGKILL after a grace; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** The Jaeger process: in its own process group, unref'd, killed if this process exits first. */
  child: ChildProcess;
}

const STOP_GRACE_MS = 5000;
const PORT_ATTEMPTS = 3;
/** Spans stay in memory: enough for a long local session, bounded for a laptop (FIFO beyond it). */
const MAX_TRACES = 20_000;

/**
 * The collector configuration: memory storage, OTLP/HTTP in, the query API out, every listener on
 * 127.0.0.1 and nothing else. Jaeger's all-in-one default also opens OTLP/gRPC 4317, Jaeger
 * 14250/14268/6831/6832, Zipkin 9411, sampling 5778/5779, health 13133, metrics 8888, expvar and
 * zpages; any of them would collide with a second instance or another local Jaeger. The query gRPC
 * API cannot be turned off, so it takes an OS-chosen port (`:0`, nobody uses it). Jaeger's
 * self-tracing (which would export to localhost:4317) and internal metrics are off.
 */
export function jaegerConfig(ports: { queryPort: number; otlpHttpPort: number }): string {
  return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    traces:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: ${MAX_TRACES}
  jaeger_query:
    storage:
      traces: memory_store
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:${ports.queryPort}
    grpc:
      endpoint: 127.0.0.1:0
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${ports.otlpHttpPort}
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
`;
}

/**
 * Runs the local Jaeger (built once by {@link ensureJaeger}) with {@link jaegerConfig} and resolves
 * once both the query API and the OTLP receiver answer, within a load-scaled limit. The process is
 * recorded for clean-up the moment it is spawned: a failed or aborted start stops it, and a
 * forgotten one is killed when this process exits. Free ports are re-chosen if another process
 * takes one first; fixed ports that are taken fail with Jaeger's own message.
 */
export async function startJaeger(options: StartJaegerOptions = {}): Promise<JaegerServer> {
  const binary = await ensureJaeger({ progress: options.progress, signal: options.signal });
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    const ports = {
      queryPort: options.queryPort ?? (await freePort()),
      otlpHttpPort: options.otlpHttpPort ?? (await freePort()),
    };
    const { server, exited } = await spawnJaeger(binary, ports);
    try {
      await whenAnswering(server, exited, options);
      return server;
    } catch (err) {
      const tail = await tailFile(server.logFile, 30);
      await server.stop();
      options.signal?.throwIfAborted();
      const fixed = options.queryPort !== undefined && options.otlpHttpPort !== undefined;
      if (/address already in use/i.test(tail) && !fixed && attempt < PORT_ATTEMPTS) continue;
      throw new Error(
        `could not start Jaeger (query 127.0.0.1:${ports.queryPort}, OTLP/HTTP 127.0.0.1:${ports.otlpHttpPort}): ` +
          `${(err as Error).message}\n--- Jaeger output (last lines) ---\n${tail || '(none)'}`,
        { cause: err },
      );
    }
  }
}

/**
 * Spawns Jaeger in its own process group (a terminal's Ctrl-C reaches only the command that owns
 * it, which then stops it) with its config and log in a fresh temporary directory.
 */
async function spawnJaeger(
  binary: string,
  ports: { queryPort: number; otlpHttpPort: number },
): Promise<{ server: JaegerServer; exited: Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wxmesh-jaeger-'));
  const forgetDir = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yaml');
  const logFile = join(dir, 'jaeger.log');
  await writeFile(config, jaegerConfig(ports));
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, ['--config', config], { cwd: dir, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  const forgetChild = onExitCleanup(() => child.kill('SIGKILL'));
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.once('error', () => resolve());
    child.once('exit', () => resolve());
  });
  void exited.then(forgetChild);
  const stop = once(async () => {
    await terminate(child, exited);
    await rm(dir, { recursive: true, force: true });
    forgetDir();
  });
  const server = {
    otlpEndpoint: `http://127.0.0.1:${ports.otlpHttpPort}`,
    queryUrl: `http://127.0.0.1:${ports.queryPort}`,
    logFile,
    stop,
    child,
  };
  return { server, exited };
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const grace = new AbortController();
  const outcome = await Promise.race([
    exited.then(() => 'exited' as const),
    delay(STOP_GRACE_MS, 'timeout' as const, { signal: grace.signal }).catch(() => 'aborted' as const),
  ]);
  grace.abort();
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Waits until the query API lists services and the OTLP receiver accepts an empty export: the
 * collector starts its receivers after its extensions, so the query API alone is not enough.
 * Rejects early when Jaeger exits or the caller aborts; the deadline re-reads the machine's load
 * when it runs out.
 */
async function whenAnswering(
  server: JaegerServer,
  exited: Promise<void>,
  options: StartJaegerOptions,
): Promise<void> {
  const baseMs = options.startTimeoutMs ?? 20_000;
  const deadline = scaledDeadline(baseMs);
  const exitedEarly = new AbortController();
  void exited.then(() => {
    const { exitCode, signalCode } = server.child;
    exitedEarly.abort(
      new Error(`Jaeger exited (${exitCode ?? signalCode ?? 'could not spawn'}) before answering`),
    );
  });
  const signal = AbortSignal.any([exitedEarly.signal, ...(options.signal ? [options.signal] : [])]);
  for (;;) {
    try {
      await waitFor(() => answers(server), {
        timeoutMs: Math.max(0, deadline.remainingMs()),
        intervalMs: 100,
        message: `Jaeger answering on ${server.queryUrl} and ${server.otlpEndpoint}`,
        signal,
      });
      return;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      // The load may have risen while waiting: the deadline then has time left.
      if (deadline.remainingMs() <= 0) {
        throw new Error(`${(err as Error).message} (${describeScaledLimit(baseMs, deadline.factor)})`, {
          cause: err,
        });
      }
    }
  }
}

async function answers(server: JaegerServer): Promise<boolean> {
  const timeout = AbortSignal.timeout(2000);
  const query = await fetch(`${server.queryUrl}/api/services`, { signal: timeout });
  await query.body?.cancel();
  if (!query.ok) return false;
  const otlp = await fetch(`${server.otlpEndpoint}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"resourceSpans":[]}',
    signal: timeout,
  });
  await otlp.body?.cancel();
  return otlp.ok;
}
