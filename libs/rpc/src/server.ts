import { setMaxListeners } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { Code, ConnectError } from '@connectrpc/connect';
import { trace, type Tracer } from '@opentelemetry/api';
import type { Validator } from '@bufbuild/protovalidate';
import { register as defaultRegistry, type Registry } from 'prom-client';
import { accessInterceptor, methodAccess, type MethodAccess } from './access.js';
import type { CallerPolicy } from './caller.js';
import { createHealth, type Health } from './health.js';
import { createHttpHandler, type HttpRoute } from './http-transport.js';
import { applyHttpLimits } from './http-limits.js';
import { grpcServerOptions } from './grpc-limits.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { grpcHandlers, grpcServiceDefinition } from './grpc-transport.js';
import { watchDependencies, type Dependency } from './dependencies.js';
import { observeInterceptor, validateInterceptor, type CutCall } from './interceptors.js';
import type { Logger } from './logger.js';
import { createRpcMetrics } from './metrics.js';
import { buildInvokers, type Interceptor } from './pipeline.js';
import { addReflection } from './reflection.js';
import { createRequestValidator } from './validation.js';
import type { ServiceRegistration } from './service.js';
import type { DescMethod } from '@bufbuild/protobuf';

/** After the unary calls have drained, how long responses may flush before open streams are cut. */
const STREAM_CUT_DELAY_MS = 500;

/** The status a server stream ends with when its replica shuts down. */
const STREAMS_ENDING = new ConnectError(
  'server is shutting down; reconnect to another replica',
  Code.Unavailable,
);

/** The status of a unary call still running when the drain's grace is over: safe to retry elsewhere. */
const GRACE_OVER = new ConnectError(
  'server shut down before the call finished; retry on another replica',
  Code.Unavailable,
);

/** How often each dependency is probed for readiness. */
const DEPENDENCY_PROBE_INTERVAL_MS = 500;

export interface RpcServerOptions {
  /** Service name for logs, metrics and the tracer. */
  readonly name: string;
  readonly services: readonly ServiceRegistration[];
  readonly logger: Logger;
  /**
   * How callers are known on each port (gateway, session tokens, mesh peers). Every RPC is served
   * only to the audiences its proto declares, whatever the policy.
   */
  readonly callers: CallerPolicy;
  /** Interface both ports bind to. */
  readonly host?: string;
  /** 0 picks a free port; read the bound one from `start()`'s result. */
  readonly grpcPort?: number;
  readonly httpPort?: number;
  readonly tracer?: Tracer;
  readonly registry?: Registry;
  /** Extra interceptors, run after tracing, error mapping, the caller's access and validation. */
  readonly interceptors?: readonly Interceptor[];
  /** Extra routes on the `http` port (webhooks), tried before 404. */
  readonly httpRoutes?: readonly HttpRoute[];
  /** How long in-flight calls may run, once new calls are refused, before they are cut with Unavailable. */
  readonly shutdownGraceMs?: number;
  /**
   * Time between flipping health to NOT_SERVING (and `/readyz` to 503) and refusing calls, during
   * which calls are still served, so load balancers and the sidecar stop sending first.
   */
  readonly drainDelayMs?: number;
  /**
   * What the service cannot serve without: readiness (health of each service, `/readyz`) turns
   * NOT_SERVING / 503 while one is unreachable, and their out-of-reach errors are Unavailable.
   */
  readonly dependencies?: readonly Dependency[];
  /** A dependency probe not answered within this counts as unreachable (default 1 s). */
  readonly dependencyTimeoutMs?: number;
  readonly validator?: Validator;
  /** What one request may cost, the same on both ports; unset fields keep {@link DEFAULT_LIMITS}. */
  readonly limits?: Partial<ServerLimits>;
}

export interface BoundPorts {
  readonly grpcPort: number;
  readonly httpPort: number;
}

/**
 * Serves one handler implementation on both ports of the architecture: `grpc` (grpc-js over
 * h2c, plus health and reflection) and `http` (connect-node on HTTP/1.1: Connect and gRPC-Web,
 * `/healthz`, `/readyz`, `/metrics`, webhooks). A class because the two listeners, health and
 * the drain state share one lifecycle.
 */
export class RpcServer {
  readonly health: Health;
  private readonly grpcServer: grpc.Server;
  private readonly httpServer: HttpServer;
  private readonly options: RpcServerOptions;
  private readonly registry: Registry;
  private draining = false;
  private shuttingDown = false;
  private unreachable: readonly string[] = [];
  private dependencyWatch: { stop(): void } | undefined;
  /** The unary calls in flight, each with the function that ends it early. */
  private readonly inFlight = new Set<CutCall>();
  private onIdle: (() => void) | undefined;
  private shutdownPromise: Promise<void> | undefined;
  private readonly streamStop = new AbortController();

  constructor(options: RpcServerOptions) {
    this.options = options;
    // Every open server stream listens on this one signal; thousands of streams are normal.
    setMaxListeners(0, this.streamStop.signal);
    this.registry = options.registry ?? defaultRegistry;
    const metrics = createRpcMetrics(this.registry);
    this.health = createHealth(options.services.map((s) => s.desc.typeName));
    // Read once at start-up: an RPC without a declared audience stops the server here.
    const access = new Map<DescMethod, MethodAccess>();
    for (const { desc } of options.services) for (const m of desc.methods) access.set(m, methodAccess(m));
    const accessOf = (method: DescMethod) => access.get(method)!;
    const invokers = buildInvokers(options.services, [
      observeInterceptor({
        tracer: options.tracer ?? trace.getTracer(options.name),
        metrics,
        logger: options.logger,
        isDraining: () => this.draining,
        // Streams are long-lived by nature; the drain waits for unary calls and then cuts streams.
        unaryCalls: {
          enter: (cut) => this.inFlight.add(cut),
          exit: (cut) => {
            this.inFlight.delete(cut);
            if (this.inFlight.size === 0) this.onIdle?.();
          },
        },
        dependencies: options.dependencies,
      }),
      accessInterceptor(options.callers, accessOf),
      validateInterceptor(options.validator ?? createRequestValidator()),
      ...(options.interceptors ?? []),
    ]);

    const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
    this.grpcServer = new grpc.Server(grpcServerOptions(limits));
    for (const registration of options.services) {
      this.grpcServer.addService(
        grpcServiceDefinition(registration),
        grpcHandlers(registration, invokers, this.streamStop.signal),
      );
    }
    this.health.addToServer(this.grpcServer);
    addReflection(
      this.grpcServer,
      options.services.map((s) => s.desc),
    );

    this.httpServer = createHttpServer(
      { maxHeaderSize: limits.maxHeaderBytes },
      createHttpHandler({
        services: options.services,
        invokers,
        accessOf,
        routes: [this.operationalRoute, ...(options.httpRoutes ?? [])],
        streamStop: this.streamStop.signal,
        limits,
        logger: options.logger,
      }),
    );
    applyHttpLimits(this.httpServer, limits);
  }

  private readonly operationalRoute: HttpRoute = async (req, res) => {
    const path = req.url?.split('?', 1)[0];
    if (req.method !== 'GET') return false;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return true;
    }
    if (path === '/readyz') {
      const ready = !this.shuttingDown && this.unreachable.length === 0;
      const body = ready
        ? { status: 'ready' }
        : this.shuttingDown
          ? { status: 'not_ready', reason: 'shutting down' }
          : { status: 'not_ready', reason: 'dependencies unreachable', unreachable: this.unreachable };
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify(body));
      return true;
    }
    if (path === '/metrics') {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
      return true;
    }
    return false;
  };

  /** Binds both ports; resolves with the ports actually bound. */
  async start(): Promise<BoundPorts> {
    const host = this.options.host ?? '127.0.0.1';
    const grpcPort = await new Promise<number>((resolve, reject) =>
      this.grpcServer.bindAsync(
        `${host.includes(':') ? `[${host}]` : host}:${this.options.grpcPort ?? 0}`,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    const httpPort = await new Promise<number>((resolve, reject) => {
      this.httpServer.once('error', reject);
      this.httpServer.listen(this.options.httpPort ?? 0, host, () => {
        this.httpServer.off('error', reject);
        resolve((this.httpServer.address() as AddressInfo).port);
      });
    });
    this.watchReadiness();
    this.options.logger.info({ grpcPort, httpPort, host }, 'serving');
    return { grpcPort, httpPort };
  }

  /**
   * Follows the dependencies: while one is unreachable every registered service is NOT_SERVING
   * (the readiness probes) and `/readyz` answers 503; the overall `""` entry, which liveness
   * probes read, stays SERVING, so an outage takes replicas out of rotation without restarting them.
   */
  private watchReadiness(): void {
    const dependencies = this.options.dependencies ?? [];
    if (dependencies.length === 0) return;
    this.dependencyWatch = watchDependencies({
      dependencies,
      logger: this.options.logger,
      intervalMs: DEPENDENCY_PROBE_INTERVAL_MS,
      timeoutMs: this.options.dependencyTimeoutMs ?? 1_000,
      onChange: (unreachable) => {
        this.unreachable = unreachable;
        if (this.shuttingDown) return;
        const status = unreachable.length === 0 ? 'SERVING' : 'NOT_SERVING';
        for (const { desc } of this.options.services) this.health.set(desc.typeName, status);
      },
    });
  }

  /** True once new calls are refused with Unavailable (after the drain delay). */
  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Graceful stop, in the order load balancers need:
   * 1. health turns NOT_SERVING on both ports and `/readyz` 503, and `withdraw` starts (it runs
   *    alongside the rest); calls are still served for `drainDelayMs`, so whoever routes here
   *    sees the change before any call is refused;
   * 2. new calls are refused with Unavailable and the listeners stop accepting connections;
   *    in-flight unary calls get `shutdownGraceMs` to finish;
   * 3. past the grace, the calls still running are answered Unavailable (retryable elsewhere)
   *    and the returned promise rejects, so the process exits non-zero;
   * 4. open streams end with Unavailable once `withdraw` is done, so what it withdrew (a
   *    replica's presence) is gone by the time a client sees its stream end.
   * Safe to call more than once.
   */
  shutdown(withdraw?: () => Promise<unknown> | undefined): Promise<void> {
    this.shutdownPromise ??= this.drain(withdraw);
    return this.shutdownPromise;
  }

  private async drain(withdraw?: () => Promise<unknown> | undefined): Promise<void> {
    const { logger } = this.options;
    const graceMs = this.options.shutdownGraceMs ?? 10_000;
    const drainDelayMs = this.options.drainDelayMs ?? 0;
    this.shuttingDown = true;
    this.dependencyWatch?.stop();
    this.health.setAll('NOT_SERVING');
    const withdrawn = Promise.resolve(withdraw?.()).catch((err: unknown) =>
      logger.warn({ err }, 'withdrawing before the drain failed'),
    );
    logger.info({ inFlight: this.inFlight.size, drainDelayMs, graceMs }, 'shutting down: health NOT_SERVING');
    if (drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
    this.draining = true;
    logger.info({ inFlight: this.inFlight.size }, 'refusing new calls');

    const httpClosed = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    const sweep = setInterval(() => this.httpServer.closeIdleConnections(), 50);
    const cut = await this.awaitInFlight(withdrawn, graceMs);
    await this.endStreams(httpClosed);
    clearInterval(sweep);
    await httpClosed;
    logger.info('shut down');
    if (cut > 0) throw new Error(`grace period of ${graceMs} ms over: ${cut} calls ended with Unavailable`);
  }

  /** Waits for the in-flight unary calls and `withdrawn`; past the grace, cuts the calls left. */
  private async awaitInFlight(withdrawn: Promise<unknown>, graceMs: number): Promise<number> {
    const idle =
      this.inFlight.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.onIdle = resolve));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([Promise.all([idle, withdrawn]), graceOver]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return 0;
    const cut = this.inFlight.size;
    this.options.logger.warn({ inFlight: cut }, 'grace period over: ending in-flight calls with Unavailable');
    for (const end of [...this.inFlight]) end(GRACE_OVER);
    return cut;
  }

  /**
   * Tells the kit's streams to end with Unavailable (clients reconnect to another replica), lets
   * last responses flush, then cuts what is still open: health Watch streams and handlers that
   * ignore their signal would hold the listeners open forever.
   */
  private async endStreams(httpClosed: Promise<void>): Promise<void> {
    this.streamStop.abort(STREAMS_ENDING);
    const grpcClosed = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      Promise.all([grpcClosed, httpClosed]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STREAM_CUT_DELAY_MS))),
    ]);
    clearTimeout(timer);
    if (!flushed) {
      this.grpcServer.forceShutdown();
      this.httpServer.closeAllConnections();
    }
  }
}
