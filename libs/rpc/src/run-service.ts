import type { CommonServiceConfig } from '@wxmesh/config';
import { initTelemetry } from '@wxmesh/telemetry';
import type { SessionTokenVerifier } from './caller.js';
import type { Dependency } from './dependencies.js';
import { createLogger, type Logger } from './logger.js';
import { RpcServer, type BoundPorts, type RpcServerOptions } from './server.js';
import { installShutdown, type ShutdownStep } from './shutdown.js';

/** The fields of the shared service configuration that {@link runService} uses. */
export type ServiceRuntimeConfig = Pick<
  CommonServiceConfig,
  | 'HOST'
  | 'GRPC_PORT'
  | 'HTTP_PORT'
  | 'LOG_LEVEL'
  | 'SHUTDOWN_GRACE_MS'
  | 'DRAIN_DELAY_MS'
  | 'REQUEST_MAX_BYTES'
  | 'REQUEST_HEADERS_TIMEOUT_MS'
  | 'REQUEST_TIMEOUT_MS'
  | 'MAX_CONCURRENT_STREAMS'
  | 'MAX_CONNECTIONS'
  | 'DEPENDENCY_TIMEOUT_MS'
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'EDGE_BEHIND_GATEWAY'
  | 'PEER_IDENTITY'
  | 'MESH_NAMESPACE'
>;

/** What a service contributes once telemetry and the logger exist: its services and what to close. */
export interface ServiceParts extends Pick<RpcServerOptions, 'services' | 'httpRoutes' | 'interceptors'> {
  /**
   * Resolves `Authorization: Bearer <session token>` at the edge: auth-verify.VerifySession through
   * a peer client ({@link sessionVerifierFrom}), or the service's own lookup where it owns sessions.
   * Without it the service's edge accepts only the cloud gateway's identity.
   */
  readonly verifySessionToken?: SessionTokenVerifier;
  /**
   * Runs the moment a shutdown begins, alongside the server's drain (health is already
   * NOT_SERVING): withdraw what other replicas rely on, e.g. the session service's presence, so
   * peers stop routing here at once rather than when the drain is over. Open streams are ended
   * only after it is done, so a client whose stream ends already sees it withdrawn.
   */
  readonly onDrain?: () => Promise<unknown>;
  /**
   * What the service cannot serve without (its Redis, say): readiness follows them and their
   * out-of-reach failures reach callers as Unavailable. See `redisDependency` in @wxmesh/redis.
   */
  readonly dependencies?: readonly Dependency[];
  /** Closed in order after the server has drained (clients, Redis, Kafka producers ...), each within its own timeout. */
  readonly closers?: readonly ShutdownStep[];
}

/**
 * The composition-root skeleton shared by every service: telemetry, logger, the service's own
 * parts, the server on both ports, and graceful shutdown on SIGTERM/SIGINT (server drains first,
 * then the service's closers, then telemetry flushes). Logs one `serving` line with the bound
 * ports, which local tooling reads when ports are picked by the OS.
 */
export async function runService(
  name: string,
  config: ServiceRuntimeConfig,
  build: (deps: { logger: Logger }) => Promise<ServiceParts> | ServiceParts,
): Promise<{ server: RpcServer; ports: BoundPorts; logger: Logger }> {
  const telemetry = await initTelemetry({
    serviceName: name,
    otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
  const logger = createLogger({ name, level: config.LOG_LEVEL });
  const parts = await build({ logger });
  const server = new RpcServer({
    name,
    logger,
    tracer: telemetry.tracer,
    host: config.HOST,
    grpcPort: config.GRPC_PORT,
    httpPort: config.HTTP_PORT,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    drainDelayMs: config.DRAIN_DELAY_MS,
    limits: {
      maxRequestBytes: config.REQUEST_MAX_BYTES,
      headersTimeoutMs: config.REQUEST_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      maxConcurrentStreams: config.MAX_CONCURRENT_STREAMS,
      maxConnections: config.MAX_CONNECTIONS,
    },
    dependencies: parts.dependencies,
    dependencyTimeoutMs: config.DEPENDENCY_TIMEOUT_MS,
    services: parts.services,
    callers: {
      behindGateway: config.EDGE_BEHIND_GATEWAY,
      peerIdentity: config.PEER_IDENTITY,
      namespace: config.MESH_NAMESPACE,
      verifySessionToken: parts.verifySessionToken,
    },
    httpRoutes: parts.httpRoutes,
    interceptors: parts.interceptors,
  });
  const ports = await server.start();
  installShutdown({
    logger,
    steps: [
      {
        name: 'server',
        // Health flips first, then onDrain starts; streams end only once it is done. A grace
        // overrun rejects, so the process exits non-zero.
        run: () => server.shutdown(parts.onDrain),
        timeoutMs: config.DRAIN_DELAY_MS + config.SHUTDOWN_GRACE_MS + 2_000,
      },
      ...(parts.closers ?? []),
      { name: 'telemetry', run: () => telemetry.shutdown() },
    ],
  });
  return { server, ports, logger };
}
