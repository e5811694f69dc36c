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
import { grpcHandlers, grpcServiceDefinition } from './grpc-transport.js';
import { observeInterceptor, validateInterceptor } from './interceptors.js';
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
  /** How long in-flight calls may run after a shutdown starts before they are cut. */
  readonly shutdownGraceMs?: number;
  /** Time between flipping health to NOT_SERVING and refusing calls, so load balancers see it first. */
  readonly drainDelayMs?: number;
  readonly validator?: Validator;
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
  private inFlight = 0;
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
          enter: () => this.inFlight++,
          exit: () => {
            if (--this.inFlight === 0) this.onIdle?.();
          },
        },
      }),
      accessInterceptor(options.callers, accessOf),
      validateInterceptor(options.validator ?? createRequestValidator()),
      ...(options.interceptors ?? []),
    ]);

    this.grpcServer = new grpc.Server();
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
      createHttpHandler({
        services: options.services,
        invokers,
        accessOf,
        routes: [this.operationalRoute, ...(options.httpRoutes ?? [])],
        streamStop: this.streamStop.signal,
      }),
    );
  }

  private readonly operationalRoute: HttpRoute = async (req, res) => {
    const path = req.url?.split('?', 1)[0];
    if (req.method !== 'GET') return false;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return true;
    }
    if (path === '/readyz') {
      const ready = !this.draining && this.health.get() === 'SERVING';
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ready ? 'ready' : 'not_ready' }));
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
    this.options.logger.info({ grpcPort, httpPort, host }, 'serving');
    return { grpcPort, httpPort };
  }

  /** True once a shutdown has begun; new calls are refused with Unavailable from then on. */
  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Graceful stop: health flips to NOT_SERVING on both ports at once, new calls are refused,
   * in-flight calls get `shutdownGraceMs` to finish, then listeners and connections close.
   * `withdraw` starts right after health flips and runs alongside the drain; open streams are ended
   * only once it is done (or the grace is over), so what it withdraws (a replica's presence) is
   * gone by the time a client sees its stream end. Safe to call more than once.
   */
  shutdown(withdraw?: () => Promise<unknown> | undefined): Promise<void> {
    this.shutdownPromise ??= this.drain(withdraw);
    return this.shutdownPromise;
  }

  private async drain(withdraw?: () => Promise<unknown> | undefined): Promise<void> {
    const { logger } = this.options;
    const graceMs = this.options.shutdownGraceMs ?? 10_000;
    this.health.setAll('NOT_SERVING');
    const withdrawn = Promise.resolve(withdraw?.()).catch((err: unknown) =>
      logger.warn({ err }, 'withdrawing before the drain failed'),
    );
    logger.info({ inFlight: this.inFlight, graceMs }, 'shutting down: health NOT_SERVING');
    if (this.options.drainDelayMs) await new Promise((r) => setTimeout(r, this.options.drainDelayMs));
    this.draining = true;

    const idle =
      this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.onIdle = resolve));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const httpClosed = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    const sweep = setInterval(() => this.httpServer.closeIdleConnections(), 50);
    const outcome = await Promise.race([Promise.all([idle, withdrawn]), graceOver]);
    if (outcome === 'timeout')
      logger.warn({ inFlight: this.inFlight }, 'grace period over: cutting in-flight calls');

    // Unary calls are done (or out of time). Tell the kit's streams to end with Unavailable (clients
    // reconnect to another replica), let last responses flush, then cut what is still open: health
    // Watch streams and handlers that ignore their signal would hold the listeners open forever.
    this.streamStop.abort(STREAMS_ENDING);
    const grpcClosed = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    const flushed = await Promise.race([
      Promise.all([grpcClosed, httpClosed]).then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), STREAM_CUT_DELAY_MS)),
    ]);
    if (!flushed) {
      this.grpcServer.forceShutdown();
      this.httpServer.closeAllConnections();
    }
    clearInterval(sweep);
    clearTimeout(timer);
    await httpClosed;
    logger.info('shut down');
  }
}
