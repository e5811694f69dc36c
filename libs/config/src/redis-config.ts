import { z } from 'zod';
import { commaList, hostPort, oneOf } from './fields.js';

/** How a service reaches Redis: one server, a Sentinel-managed primary, or a Redis Cluster. */
export const REDIS_MODES = ['standalone', 'sentinel', 'cluster'] as const;

/** One of {@link REDIS_MODES}. */
export type RedisMode = (typeof REDIS_MODES)[number];

/**
 * The Redis topology fields, which complete `REDIS_URL`. `domainServiceConfig` includes both; a tool
 * that declares `REDIS_URL` itself spreads these beside it. Either way, call {@link checkRedisConfig}
 * in the schema's `superRefine`:
 *
 * - `REDIS_MODE` (default `standalone`): `REDIS_URL` is the server.
 * - `sentinel`: `REDIS_SENTINELS` (`host:port` list, required) are asked for the primary of
 *   `REDIS_SENTINEL_NAME` (required); `REDIS_URL` then carries only the credentials, the database and
 *   TLS (`rediss:`), and its host is ignored (write the master name there for readability).
 * - `cluster`: `REDIS_URL`'s host is one seed node and `REDIS_CLUSTER_NODES` (`host:port` list,
 *   optional) more; the client discovers the rest. Credentials and TLS (`rediss:`) in `REDIS_URL`
 *   apply to every node.
 */
export const redisConfig = {
  REDIS_MODE: oneOf(REDIS_MODES).default('standalone'),
  REDIS_SENTINELS: commaList(hostPort(), { min: 1 }).optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, 'expected a Sentinel master name of [A-Za-z0-9._-]')
    .optional(),
  REDIS_CLUSTER_NODES: commaList(hostPort(), { min: 1 }).optional(),
};

/** The parsed fields of {@link redisConfig} plus the `REDIS_URL` they complete. */
export interface RedisConfigFields {
  readonly REDIS_URL: string;
  readonly REDIS_MODE: RedisMode;
  readonly REDIS_SENTINELS?: readonly string[] | undefined;
  readonly REDIS_SENTINEL_NAME?: string | undefined;
  readonly REDIS_CLUSTER_NODES?: readonly string[] | undefined;
}

/** The problems of a combination of {@link redisConfig}'s fields, each naming its variable. */
export function redisConfigProblems(config: RedisConfigFields): Array<{ variable: string; message: string }> {
  const problems: Array<{ variable: string; message: string }> = [];
  const sentinel = config.REDIS_MODE === 'sentinel';
  if (sentinel && !config.REDIS_SENTINELS) {
    problems.push({
      variable: 'REDIS_SENTINELS',
      message: 'expected the Sentinels as a host:port list with REDIS_MODE=sentinel',
    });
  }
  if (sentinel && !config.REDIS_SENTINEL_NAME) {
    problems.push({
      variable: 'REDIS_SENTINEL_NAME',
      message: 'expected the monitored master name with REDIS_MODE=sentinel',
    });
  }
  if (!sentinel && config.REDIS_SENTINELS) {
    problems.push({ variable: 'REDIS_SENTINELS', message: 'is only read with REDIS_MODE=sentinel' });
  }
  if (config.REDIS_MODE !== 'cluster' && config.REDIS_CLUSTER_NODES) {
    problems.push({ variable: 'REDIS_CLUSTER_NODES', message: 'is only read with REDIS_MODE=cluster' });
  }
  return problems;
}

/**
 * For a schema's `superRefine`: reports every problem of {@link redisConfigProblems} on its variable,
 * so a bad combination stops the service at start-up with a message naming it, like any bad value.
 */
export function checkRedisConfig(config: RedisConfigFields, ctx: z.RefinementCtx): void {
  for (const problem of redisConfigProblems(config)) {
    ctx.addIssue({ code: 'custom', path: [problem.variable], message: problem.message });
  }
}

/**
 * The connection a validated config describes, the shape `@wxmesh/redis`'s `createRedisClient({ connection })`
 * takes (its `RedisConnection`). Call it
 * only on a config {@link checkRedisConfig} accepted; it throws on a combination that check rejects.
 */
export function redisConnection(config: RedisConfigFields) {
  const url = config.REDIS_URL;
  switch (config.REDIS_MODE) {
    case 'standalone':
      return { mode: 'standalone' as const, url };
    case 'sentinel': {
      const { REDIS_SENTINELS: sentinels, REDIS_SENTINEL_NAME: sentinelName } = config;
      if (!sentinels || !sentinelName)
        throw new Error('REDIS_MODE=sentinel without REDIS_SENTINELS/REDIS_SENTINEL_NAME');
      return { mode: 'sentinel' as const, url, sentinels, sentinelName };
    }
    case 'cluster':
      return { mode: 'cluster' as const, url, nodes: config.REDIS_CLUSTER_NODES ?? [] };
  }
}

/** What {@link redisConnection} returns. */
export type RedisConnectionConfig = ReturnType<typeof redisConnection>;
