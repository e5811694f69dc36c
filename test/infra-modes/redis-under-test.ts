// A Redis deployment as production runs it, for the specs that run services on one: a 3-master
// Redis Cluster (REDIS_MODE=cluster) or a primary behind a Sentinel (REDIS_MODE=sentinel), with the
// environment a service reads for it (docs/redis.md).
import { startRedisCluster, startRedisSentinel } from '@wxmesh/testing';

export type RedisMode = 'cluster' | 'sentinel';

export const REDIS_MODE_TITLE = {
  cluster: 'Redis Cluster (3 masters)',
  sentinel: 'Redis Sentinel',
} as const satisfies Record<RedisMode, string>;

/** The Redis deployment the services run on: their environment for it, and names spread over it. */
export interface RedisUnderTest {
  env: Record<string, string>;
  /** On a cluster, a name per master (see RedisCluster.namesOnEveryMaster); three otherwise. */
  namesOnEveryMaster(name: (i: number) => string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startRedisUnderTest(mode: RedisMode): Promise<RedisUnderTest> {
  if (mode === 'cluster') {
    const cluster = await startRedisCluster();
    return {
      env: {
        REDIS_MODE: 'cluster',
        REDIS_URL: cluster.url,
        REDIS_CLUSTER_NODES: cluster.nodes.slice(1).join(','),
      },
      namesOnEveryMaster: (name) => cluster.namesOnEveryMaster(name),
      stop: () => cluster.stop(),
    };
  }
  const sentinel = await startRedisSentinel();
  return {
    env: {
      REDIS_MODE: 'sentinel',
      // Only credentials and database are read from it: the address must come from the Sentinel.
      REDIS_URL: 'redis://sentinel-names-the-primary.invalid',
      REDIS_SENTINELS: sentinel.sentinel,
      REDIS_SENTINEL_NAME: sentinel.name,
    },
    namesOnEveryMaster: async (name) => [0, 1, 2].map(name),
    stop: () => sentinel.stop(),
  };
}
