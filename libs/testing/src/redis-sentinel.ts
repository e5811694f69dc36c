import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { ensureCommand, logToStderr, once, tailFile } from './host-tools.js';
import { onExitCleanup } from './exit-cleanup.js';
import { probeClient, startRedis, type RedisServer } from './redis.js';
import { spawnServer } from './server-process.js';
import { scaledTimeout } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

/** A primary and one Sentinel monitoring it, owned by the caller. */
export interface RedisSentinel {
  /** The monitored primary. */
  primary: RedisServer;
  /** `127.0.0.1:<port>` of the Sentinel, as `REDIS_SENTINELS`. */
  sentinel: string;
  /** The master name the Sentinel monitors, as `REDIS_SENTINEL_NAME`. */
  name: string;
  /** Stops the Sentinel and the primary and removes their directories; idempotent. */
  stop(): Promise<void>;
}

const MASTER_NAME = 'wxmesh';

async function sentinelKnowsPrimary(port: number, primaryPort: number): Promise<boolean> {
  const client = probeClient(port);
  try {
    await client.connect();
    const address = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as
      string[] | null;
    return address?.[1] === String(primaryPort);
  } finally {
    client.disconnect();
  }
}

/**
 * Starts a `redis-server` primary ({@link startRedis}) and one Sentinel (`redis-server --sentinel`,
 * quorum 1) monitoring it as `wxmesh`, and resolves once the Sentinel names the primary, within a
 * load-scaled limit. Both are recorded for clean-up when spawned; the caller must call `stop()`.
 */
export async function startRedisSentinel(
  options: { log?: (line: string) => void } = {},
): Promise<RedisSentinel> {
  const log = options.log ?? logToStderr;
  const binary = await ensureCommand('redis-server', ['redis-server'], log);
  const primary = await startRedis({ log });
  const dir = await mkdtemp(join(tmpdir(), 'wxmesh-sentinel-'));
  const forgetDir = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const config = join(dir, 'sentinel.conf');
  await writeFile(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 1`,
      '',
    ].join('\n'),
  );
  const server = spawnServer(binary, [config, '--sentinel'], {
    logFile: join(dir, 'sentinel.log'),
    cwd: dir,
  });
  const stop = once(async () => {
    await server.stop(5_000);
    await rm(dir, { recursive: true, force: true });
    forgetDir();
    await primary.stop();
  });
  try {
    await waitFor(() => sentinelKnowsPrimary(port, primary.port), {
      timeoutMs: scaledTimeout(10_000),
      intervalMs: 100,
      message: `redis-sentinel on 127.0.0.1:${port} naming the primary`,
    });
  } catch (err) {
    const tail = await tailFile(join(dir, 'sentinel.log'), 30);
    await stop();
    throw new Error(`${(err as Error).message}\n--- sentinel output (last lines) ---\n${tail || '(none)'}`, {
      cause: err,
    });
  }
  return { primary, sentinel: `127.0.0.1:${port}`, name: MASTER_NAME, stop };
}
