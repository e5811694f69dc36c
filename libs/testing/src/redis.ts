import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { ensureCommand, logToStderr, once, tailFile } from './host-tools.js';
import { onExitCleanup } from './exit-cleanup.js';
import { describeExit, spawnServer } from './server-process.js';
import { waitFor } from './wait-for.js';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Fixed port; by default a free loopback port is chosen (and re-chosen if another process takes it). */
  port?: number;
  /** How long to wait for PING to answer (default 10 s). */
  startTimeoutMs?: number;
  /** Progress lines (an apt-get install); default: stderr. */
  log?: (line: string) => void;
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
}

const STOP_GRACE_MS = 5000;
const PORT_ATTEMPTS = 3;

async function answersPing(port: number): Promise<boolean> {
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
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

/**
 * Starts Debian's `redis-server` on 127.0.0.1 with no persistence (`--save '' --appendonly no`)
 * in its own temporary directory and resolves once PING answers. Installs redis-server with
 * apt-get when it is missing and this process is root; otherwise a missing binary is a clear
 * error. The caller must call `stop()` (a forgotten server is killed when this process exits).
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const log = options.log ?? logToStderr;
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const binary = await ensureCommand('redis-server', ['redis-server'], log);
  for (let attempt = 1; ; attempt++) {
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
    try {
      await waitFor(() => answersPing(port), {
        timeoutMs,
        intervalMs: 50,
        message: `redis-server answering PING on 127.0.0.1:${port}`,
        signal: exitedEarly.signal,
      });
      return { url: `redis://127.0.0.1:${port}`, port, dir, stop };
    } catch (err) {
      const tail = await tailFile(logFile, 30);
      await stop();
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
