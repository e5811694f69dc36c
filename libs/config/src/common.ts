import { z } from 'zod';
import {
  boolean,
  commaList,
  duration,
  durationOrOff,
  hostPort,
  integer,
  logLevel,
  oneOf,
  port,
  sensitive,
  url,
} from './fields.js';
import { redisConfig } from './redis-config.js';

/**
 * `REDIS_URL`: `redis://` or `rediss://` (TLS). It may embed a password, so a bad value is reported
 * by name and expectation only, never echoed.
 */
export function redisUrl() {
  return sensitive(url({ protocols: ['redis:', 'rediss:'] }));
}

/** `KAFKA_BROKERS`: comma-separated `host:port` bootstrap brokers, at least one. */
export function kafkaBrokers() {
  return commaList(hostPort(), { min: 1 });
}

/**
 * The fields of a service on the behaviour-event topics; spread it into {@link defineConfig}:
 * `KAFKA_BROKERS` (required) and `EVENTS_CREATE_TOPICS` (default true: create the behaviour topics at
 * start-up when missing, for local runs; production manages its topics and sets it false).
 *
 * How the client reaches the brokers (all optional; unset is plaintext, as local runs use):
 * `KAFKA_SECURITY` (`plaintext`, `ssl`, `sasl_ssl`, `sasl_plaintext`), `KAFKA_SASL_MECHANISM`
 * (`scram-sha-256`, `scram-sha-512`, `plain`), `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD_FILE` (a
 * mounted Secret, never the password itself), `KAFKA_TLS_CA_FILE`, and `KAFKA_TLS_CERT_FILE` with
 * `KAFKA_TLS_KEY_FILE` for mTLS. Which combinations are required is checked, and the files read, by
 * the events library's `createKafka` at start-up.
 */
export const kafkaEventsConfig = {
  KAFKA_BROKERS: kafkaBrokers(),
  EVENTS_CREATE_TOPICS: boolean().default(true),
  KAFKA_SECURITY: oneOf(['plaintext', 'ssl', 'sasl_ssl', 'sasl_plaintext']).default('plaintext'),
  KAFKA_SASL_MECHANISM: oneOf(['scram-sha-256', 'scram-sha-512', 'plain']).optional(),
  KAFKA_SASL_USERNAME: z.string().trim().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().trim().min(1).optional(),
  KAFKA_TLS_CA_FILE: z.string().trim().min(1).optional(),
  KAFKA_TLS_CERT_FILE: z.string().trim().min(1).optional(),
  KAFKA_TLS_KEY_FILE: z.string().trim().min(1).optional(),
};

/**
 * The fields every wxmesh service shares; spread it into {@link defineConfig}:
 *
 * ```ts
 * const schema = defineConfig({ ...commonServiceConfig, REDIS_URL: redisUrl(), WX_APPID: z.string() });
 * ```
 *
 * - `GRPC_PORT` / `HTTP_PORT` default to 0 (the OS picks a free port and the server logs it) so tests
 *   and local runs can start any number of replicas; the Kubernetes manifests always set them.
 * - `HOST` defaults to `0.0.0.0`: in a pod, Istio (since 1.10) forwards inbound traffic to the pod IP,
 *   not to loopback, and kubelet's gRPC/HTTP probes hit the pod IP too, so a loopback default would
 *   give a pod that starts fine and is unreachable. Set `HOST=127.0.0.1` on a laptop if you prefer.
 * - `SHUTDOWN_GRACE_MS` defaults to 15s, well inside Kubernetes' 30s `terminationGracePeriodSeconds`.
 * - `EDGE_BEHIND_GATEWAY` (default false) says the http port sits behind the WeChat cloud gateway,
 *   the only party that may set `X-WX-*` (Istio enforces that in the mesh). Off, a call that sends
 *   `X-WX-*` on the http port is refused: the user must present a session token instead.
 * - `PEER_IDENTITY` says how a mesh peer is known on the grpc port: `mtls` reads the SPIFFE id the
 *   sidecar puts in `x-forwarded-client-cert` (set it in the mesh); `declared` (local runs) trusts
 *   the `x-wxmesh-peer` name the peer client sends. `MESH_NAMESPACE` is the namespace whose
 *   service accounts are peers by plain name.
 * - `DRAIN_DELAY_MS` (default 5s): after SIGTERM, how long the server keeps serving with health
 *   NOT_SERVING and `/readyz` 503 before it refuses new calls, so load balancers and the sidecar stop
 *   sending first. `SHUTDOWN_GRACE_MS` then bounds the in-flight calls. `0` skips the wait (local runs).
 * - Request limits, the same on both ports (see the kit's `ServerLimits`): `REQUEST_MAX_BYTES`
 *   (after decompression, default 4 MiB), `REQUEST_HEADERS_TIMEOUT_MS` (10s), `REQUEST_TIMEOUT_MS`
 *   (30s, the whole request on the http port), `MAX_CONCURRENT_STREAMS` (per HTTP/2 connection, 1000),
 *   `MAX_CONNECTIONS` (per port, 10000).
 * - `DEPENDENCY_TIMEOUT_MS` (default 1s): how long a Redis command may wait on an unreachable or frozen
 *   server before the call fails with Unavailable, and the readiness probe's own timeout.
 * - `PEER_DEADLINE_MS` (default 5s): the budget of a call to a mesh peer when the served call sets
 *   none; the served call's own deadline always caps it.
 * - `REDIS_URL` and `KAFKA_BROKERS` are optional here; a service that needs one overrides it with the
 *   required form (`REDIS_URL: redisUrl()`), so it fails at startup rather than at first use.
 */
export const commonServiceConfig = {
  SERVICE_NAME: z.string().trim().min(1).optional(),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  GRPC_PORT: port().default(0),
  HTTP_PORT: port().default(0),
  LOG_LEVEL: logLevel().default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: url({ protocols: ['http:', 'https:'] }).optional(),
  SHUTDOWN_GRACE_MS: duration().default(15_000),
  DRAIN_DELAY_MS: durationOrOff().default(5_000),
  REQUEST_MAX_BYTES: integer({ min: 1024, max: 512 * 1024 * 1024 }).default(4 * 1024 * 1024),
  REQUEST_HEADERS_TIMEOUT_MS: duration().default(10_000),
  REQUEST_TIMEOUT_MS: duration().default(30_000),
  MAX_CONCURRENT_STREAMS: integer({ min: 1, max: 100_000 }).default(1_000),
  MAX_CONNECTIONS: integer({ min: 1, max: 1_000_000 }).default(10_000),
  DEPENDENCY_TIMEOUT_MS: duration().default(1_000),
  PEER_DEADLINE_MS: duration().default(5_000),
  EDGE_BEHIND_GATEWAY: boolean().default(false),
  PEER_IDENTITY: oneOf(['declared', 'mtls']).default('declared'),
  MESH_NAMESPACE: z.string().trim().min(1).default('wxmesh'),
  REDIS_URL: redisUrl().optional(),
  KAFKA_BROKERS: kafkaBrokers().optional(),
};

/** The parsed type of {@link commonServiceConfig}. */
export type CommonServiceConfig = z.output<z.ZodObject<typeof commonServiceConfig>>;

/**
 * The fields of a domain service (auth-verify, session, message-router, payment-callback, the
 * projector): {@link commonServiceConfig}, its Redis (`REDIS_URL`, required, and the topology
 * fields of {@link redisConfig}: standalone, Sentinel or Cluster) and the behaviour-event topics
 * ({@link kafkaEventsConfig}). Spread it into {@link defineConfig}, and call `checkRedisConfig` in
 * the schema's `superRefine`.
 */
export const domainServiceConfig = {
  ...commonServiceConfig,
  REDIS_URL: redisUrl(),
  ...redisConfig,
  ...kafkaEventsConfig,
};
