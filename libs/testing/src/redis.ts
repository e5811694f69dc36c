import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { ensureCommand, logToStderr, once, tailFile } from './host-tools.js';
import { onExitCleanup } from './exit-cleanup.js';
import { describeExit, spawnServer } from './server-process.js';
import { scaledTimeout } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Fixed port; by default a free loopback port is chosen (and re-chosen if another process takes it). */
  port?: number;
  /** How long to wait for PING to answer on an idle machine (default 10 s); scaled by the load ({@link scaledTimeout}). */
  startTimeoutMs?: number;
  /** Abandons the start: the server is stopped and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Progress lines (an apt-get install); default: stderr. */
  log?: (line: string) => void;
  /**
   * Starts the server as a Redis Cluster node (`cluster-enabled yes`, its cluster bus on a second
   * free port rather than port + 10000, which may be taken or past 65535). It serves no slot until a
   * cluster is formed: {@link startRedisCluster} does that.
   */
  clusterNode?: boolean;
}

/** A running redis-server owned by the caller. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The server's scratch directory (its working dir and log), removed by stop(). */
  dir: string;
  /** Stops the server and removes its directory; idempotent. */
  stop(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP): connections stay open and nothing is answered, as with a hung
   * host. {@link RedisServer.resume} lets it go on; `stop()` and this process's exit resume it
   * too, so a failed test cannot leave it frozen. (The same pair as the Kafka broker's.)
   */
  pause(): void;
  /** Undoes {@link RedisServer.pause} (SIGCONT). */
  resume(): void;
}

/** The arguments that make a server a cluster node, its bus on a free port of its own. */
async function clusterNodeArgs(): Promise<string[]> {
  // prettier-ignore
  return [
    '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf',
    '--cluster-port', String(await freePort()),
    '--cluster-node-timeout', '5000',
  ];
}

const STOP_GRACE_MS = 5000;
const PORT_ATTEMPTS = 3;

/**
 * A one-shot client of the local server on `port` that never waits long or retries: for probes
 * (PING, CLUSTER INFO) that are repeated until they answer. The caller disconnects it.
 */
export function probeClient(port: number): Redis {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    commandTimeout: 1000,
  });
  client.on('error', () => undefined);
  return client;
}

async function answersPing(port: number): Promise<boolean> {
  const client = probeClient(port);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

const frozen = new Set<number>();

function thaw(pid: number): void {
  forgetters.get(pid)?.();
  forgetters.delete(pid);
  if (!frozen.delete(pid)) return;
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // already gone
  }
}

const forgetters = new Map<number, () => void>();

function freeze(pid: number | undefined): void {
  if (pid === undefined) throw new Error('redis-server has no pid to pause');
  process.kill(pid, 'SIGSTOP');
  frozen.add(pid);
  forgetters.set(
    pid,
    onExitCleanup(() => thaw(pid)),
  );
}

/** A frozen server cannot act on SIGTERM: thaw it before stopping. */
function thawThen(pid: number | undefined, stop: () => Promise<void>): () => Promise<void> {
  return () => {
    if (pid !== undefined) thaw(pid);
    return stop();
  };
}

/**
 * Starts Debian's `redis-server` on 127.0.0.1 with no persistence (`--save '' --appendonly no`)
 * in its own temporary directory and resolves once PING answers, within a load-scaled limit.
 * Installs redis-server with apt-get when it is missing and this process is root; otherwise a
 * missing binary is a clear error. The server is recorded for clean-up as soon as it is spawned:
 * a failed or aborted start stops it, and a forgotten one is killed when this process exits. The
 * caller must call `stop()`.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const log = options.log ?? logToStderr;
  const baseMs = options.startTimeoutMs ?? 10_000;
  const binary = await ensureCommand('redis-server', ['redis-server'], log);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    const port = options.port ?? (await freePort());
    const dir = await mkdtemp(join(tmpdir(), 'wxmesh-redis-'));
    const forgetDir = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const logFile = join(dir, 'redis.log');
    // prettier-ignore
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--daemonize', 'no',
      '--logfile', '',
      ...(options.clusterNode ? await clusterNodeArgs() : []),
    ];
    const server = spawnServer(binary, args, { logFile, cwd: dir });
    const stop = once(async () => {
      await server.stop(STOP_GRACE_MS);
      await rm(dir, { recursive: true, force: true });
      forgetDir();
    });
    const exitedEarly = new AbortController();
    void server.exited.then((exit) =>
      exitedEarly.abort(new Error(`redis-server ${describeExit(exit)} before answering PING`)),
    );
    const signals = [exitedEarly.signal, ...(options.signal ? [options.signal] : [])];
    try {
      await waitFor(() => answersPing(port), {
        timeoutMs: scaledTimeout(baseMs),
        intervalMs: 50,
        message: `redis-server answering PING on 127.0.0.1:${port}`,
        signal: AbortSignal.any(signals),
      });
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        dir,
        stop: thawThen(server.pid, stop),
        pause: () => freeze(server.pid),
        resume: () => {
          if (server.pid !== undefined) thaw(server.pid);
        },
      };
    } catch (err) {
      const tail = await tailFile(logFile, 30);
      await stop();
      options.signal?.throwIfAborted();
      const portTaken = /address already in use/i.test(tail);
      if (portTaken && options.port === undefined && attempt < PORT_ATTEMPTS) continue;
      throw new Error(
        `could not start redis-server on 127.0.0.1:${port}: ${(err as Error).message}\n` +
          `--- redis-server output (last lines) ---\n${tail || '(none)'}`,
        { cause: err },
      );
    }
  }
}
