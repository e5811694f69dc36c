import { Gauge, Histogram, Registry } from 'prom-client';
import { codeName } from './errors.js';

/** RED metrics for served calls: rate and errors from the histogram's count by code, duration from its buckets. */
export interface RpcMetrics {
  readonly registry: Registry;
  observe(service: string, method: string, protocol: string, code: number, seconds: number): void;
  inFlight(delta: 1 | -1): void;
}

/**
 * Registers the kit's RPC metrics on a registry. Label children are cached per
 * (service, method, protocol, code) because prom-client's label lookup costs more than the
 * observation itself on the hot path.
 */
export function createRpcMetrics(registry: Registry): RpcMetrics {
  const duration = new Histogram({
    name: 'wxmesh_rpc_server_duration_seconds',
    help: 'Duration of served RPCs by service, method, protocol and status code.',
    labelNames: ['rpc_service', 'rpc_method', 'protocol', 'code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'wxmesh_rpc_server_in_flight',
    help: 'RPCs being served right now.',
    registers: [registry],
  });
  const children = new Map<string, ReturnType<typeof duration.labels>>();
  return {
    registry,
    observe(service, method, protocol, code, seconds) {
      const key = `${service}/${method}/${protocol}/${code}`;
      let child = children.get(key);
      if (child === undefined) {
        child = duration.labels(service, method, protocol, codeName(code));
        children.set(key, child);
      }
      child.observe(seconds);
    },
    inFlight(delta) {
      inFlight.inc(delta);
    },
  };
}
