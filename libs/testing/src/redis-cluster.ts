import { Cluster } from 'ioredis';
import { ensureCommand, logToStderr, runCommand, tailText } from './host-tools.js';
import { probeClient, startRedis, type RedisServer } from './redis.js';
import { scaledTimeout } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

/** Options for {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Primaries (default 3, the least Redis Cluster accepts); each holds a third of the slots. */
  masters?: number;
  /** How long forming the cluster may take on an idle machine (default 20 s), scaled by the load. */
  startTimeoutMs?: number;
  /** Progress lines (an apt-get install); default: stderr. */
  log?: (line: string) => void;
}

/** A running Redis Cluster of local `redis-server`s owned by the caller. */
export interface RedisCluster {
  /** `redis://127.0.0.1:<port>` of the first node: a seed, as `REDIS_URL` with `REDIS_MODE=cluster`. */
  url: string;
  /** `127.0.0.1:<port>` of every node, as `REDIS_CLUSTER_NODES`. */
  nodes: string[];
  /** The node servers (each can be paused and resumed like {@link startRedis}'s). */
  servers: RedisServer[];
  /** A connected ioredis `Cluster` client for the test's own reads; closed by `stop()`. */
  client: Cluster;
  /**
   * `perMaster` names made by `name(0)`, `name(1)`, … whose hash slot (as a key's tag `{name}`) lies
   * on each master, grouped by master: keys tagged by them make a flow cross every node. Throws
   * when 1000 candidates per name do not cover every master.
   */
  namesOnEveryMaster(name: (i: number) => string, perMaster?: number): Promise<string[]>;
  /** Stops every node and removes their directories; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a Redis Cluster of `masters` primaries (no replicas) from Debian's `redis-server` on free
 * loopback ports, forms it with `redis-cli --cluster create … --cluster-yes`, and resolves once every
 * node reports `cluster_state:ok` and knows every other. Each node is recorded for clean-up as soon
 * as it is spawned (see {@link startRedis}), and a failed start stops the ones already running. The
 * caller must call `stop()`.
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const log = options.log ?? logToStderr;
  const masters = options.masters ?? 3;
  const started = await Promise.allSettled(
    Array.from({ length: masters }, () => startRedis({ clusterNode: true, log })),
  );
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stopServers = () => Promise.all(servers.map((server) => server.stop())).then(() => undefined);
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const nodes = servers.map((server) => `127.0.0.1:${server.port}`);
    await formCluster(nodes, log);
    await waitForClusterOk(servers, scaledTimeout(options.startTimeoutMs ?? 20_000));
    const client = await connectClusterClient(nodes);
    const stop = async () => {
      client.disconnect();
      await stopServers();
    };
    const namesOnEveryMaster = (name: (i: number) => string, perMaster = 1) =>
      spreadOverMasters(client, name, perMaster);
    return { url: `redis://${nodes[0]}`, nodes, servers, client, namesOnEveryMaster, stop };
  } catch (err) {
    await stopServers();
    throw err;
  }
}

/** See {@link RedisCluster.namesOnEveryMaster}. */
async function spreadOverMasters(
  client: Cluster,
  name: (i: number) => string,
  perMaster: number,
): Promise<string[]> {
  const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
  const masters = new Set(ranges.map((range) => range[2][1]));
  const byMaster = new Map<number, string[]>([...masters].map((port) => [port, []]));
  const limit = 1000 * perMaster * masters.size;
  for (let i = 0; [...byMaster.values()].some((names) => names.length < perMaster); i++) {
    if (i >= limit) throw new Error(`no ${perMaster} names on every master among ${limit} candidates`);
    const candidate = name(i);
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', candidate));
    const names = byMaster.get(ranges.find(([from, to]) => slot >= from && slot <= to)![2][1])!;
    if (names.length < perMaster) names.push(candidate);
  }
  return [...byMaster.values()].flat();
}

/** Assigns the slots evenly over `nodes` and makes them meet, as an operator would. */
async function formCluster(nodes: readonly string[], log: (line: string) => void): Promise<void> {
  const cli = await ensureCommand('redis-cli', ['redis-tools'], log);
  const args = ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'];
  const result = await runCommand(cli, args);
  if (result.code !== 0) {
    throw new Error(`redis-cli --cluster create failed (exit ${result.code}):\n${tailText(result.output)}`);
  }
}

async function clusterInfo(port: number): Promise<Record<string, string>> {
  const client = probeClient(port);
  try {
    await client.connect();
    const text = String(await client.call('CLUSTER', 'INFO'));
    return Object.fromEntries(text.split(/\r?\n/).flatMap((line) => (line ? [line.split(':', 2)] : [])));
  } finally {
    client.disconnect();
  }
}

/** Every node agrees the cluster is up: all slots served, every node known to every other. */
async function waitForClusterOk(servers: readonly RedisServer[], timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      for (const server of servers) {
        const info = await clusterInfo(server.port);
        if (info.cluster_state !== 'ok' || Number(info.cluster_known_nodes) !== servers.length) return false;
      }
      return true;
    },
    {
      timeoutMs,
      intervalMs: 100,
      message: `a Redis Cluster of ${servers.length} nodes reporting cluster_state:ok`,
    },
  );
}

async function connectClusterClient(nodes: readonly string[]): Promise<Cluster> {
  const seeds = nodes.map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) }));
  const client = new Cluster(seeds, { lazyConnect: true, redisOptions: { commandTimeout: 5000 } });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
