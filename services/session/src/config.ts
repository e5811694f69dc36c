import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { checkRedisConfig, defineConfig, domainServiceConfig, duration, integer } from '@wxmesh/config';
import { z } from 'zod';

/** The session service's configuration; durations are written like `500ms`, `15s`, `2m`, `7d`. */
export const sessionConfigSchema = defineConfig({
  ...domainServiceConfig,
  /** This process's id in presence and routing; unique per process lifetime (a restart is a new replica). */
  REPLICA_ID: z
    .string()
    .trim()
    .regex(/^[0-9A-Za-z._-]{1,64}$/, 'expected 1..64 of [0-9A-Za-z._-]')
    .optional(),
  /** A session expires this long after its last create/touch ... */
  SESSION_IDLE_TTL: duration().default(7 * 24 * 3600_000),
  /** ... and this long after its creation, whatever its use. */
  SESSION_MAX_AGE: duration().default(30 * 24 * 3600_000),
  /** Live sessions per user; creating one more evicts the oldest. */
  SESSION_MAX_PER_USER: integer({ min: 1, max: 100 }).default(5),
  /** Total UTF-8 bytes of a session's attribute keys and values. */
  SESSION_ATTRIBUTES_MAX_BYTES: integer({ min: 0, max: 65_536 }).default(4096),
  /** How long ended sessions and presence history are kept when nothing else clears them. */
  SESSION_RETENTION: duration().default(24 * 3600_000),
  /** A replica that has not heartbeated for this long is dead: its users show offline. */
  PRESENCE_TTL: duration().default(15_000),
  /** How often a replica heartbeats; at most a third of PRESENCE_TTL. */
  PRESENCE_HEARTBEAT_INTERVAL: duration().default(5_000),
  /** Messages a live channel may hold for a slow client before it is closed with ResourceExhausted. */
  CHANNEL_BUFFER: integer({ min: 1, max: 10_000 }).default(64),
  /** An idle live channel gets a heartbeat item this often. */
  CHANNEL_KEEPALIVE: duration().default(25_000),
  /** How long Deliver waits for replicas to confirm the write (capped by the caller's deadline). */
  DELIVER_TIMEOUT: duration().default(2_000),
  /** How often each replica looks for sessions due for expiry or pending events. */
  SWEEP_INTERVAL: duration().default(1_000),
}).superRefine((config, ctx) => {
  checkRedisConfig(config, ctx);
  if (config.PRESENCE_HEARTBEAT_INTERVAL * 3 > config.PRESENCE_TTL) {
    ctx.addIssue({
      code: 'custom',
      path: ['PRESENCE_HEARTBEAT_INTERVAL'],
      message: 'must be at most a third of PRESENCE_TTL, so one late heartbeat does not mark a replica dead',
    });
  }
  if (config.SESSION_IDLE_TTL > config.SESSION_MAX_AGE) {
    ctx.addIssue({
      code: 'custom',
      path: ['SESSION_IDLE_TTL'],
      message: 'must not exceed SESSION_MAX_AGE',
    });
  }
});

export type SessionConfig = z.output<typeof sessionConfigSchema>;

/** A replica id unique to this process: the pod (host) name plus a random suffix. */
export function defaultReplicaId(): string {
  return `${hostname()
    .slice(0, 48)
    .replace(/[^0-9A-Za-z._-]/g, '-')}-${randomBytes(4).toString('hex')}`;
}
