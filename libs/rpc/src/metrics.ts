import { Gauge, Histogram, Registry } from 'prom-client';
import { codeName } from './errors.js';

/** RED metrics for served calls: rate and errors from the histogram's count by code, duration from its buckets. */
export interface RpcMetrics {
  readonly registry: Registry;
  observe(service: string, method: string, protocol: string, code: number, seconds: number): void;
  inFlight(delta: 1 | -1): void;
}

const PROTOCOLS: readonly string[] = ['grpc', 'connect', 'grpc_web'];

/**
 * Registers the kit's RPC metrics on a registry. Label children are cached per
 * (service, method, protocol, code) because prom-client's label lookup costs more than the
 * observation itself on the hot path. The cache is nested by service and method name (the same
 * string objects on every call, whose hashes V8 keeps) and indexed by protocol and code, so a
 * call builds no key string.
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
  type Child = ReturnType<typeof duration.labels>;
  const children = new Map<string, Map<string, Child[]>>(); // service → method → [protocol * 32 + code]
  return {
    registry,
    observe(service, method, protocol, code, seconds) {
      const p = PROTOCOLS.indexOf(protocol);
      if (p < 0 || !(code >= 0 && code < 32) || !Number.isInteger(code)) {
        duration.labels(service, method, protocol, codeName(code)).observe(seconds); // not on the served paths
        return;
      }
      let methods = children.get(service);
      if (methods === undefined) children.set(service, (methods = new Map()));
      let slots = methods.get(method);
      if (slots === undefined) methods.set(method, (slots = []));
      const slot = p * 32 + code;
      let child = slots[slot];
      if (child === undefined)
        slots[slot] = child = duration.labels(service, method, protocol, codeName(code));
      child.observe(seconds);
    },
    inFlight(delta) {
      inFlight.inc(delta);
    },
  };
}
