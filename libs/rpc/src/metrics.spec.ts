import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createRpcMetrics } from './metrics.js';

// The `_count` series of the duration histogram, by their label sets, from the exposition text.
async function counts(registry: Registry): Promise<Map<string, number>> {
  const text = await registry.getSingleMetricAsString('wxmesh_rpc_server_duration_seconds');
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^wxmesh_rpc_server_duration_seconds_count\{(.*)\} (\d+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('every (service, method, protocol, code) is counted under its own labels', async () => {
  const registry = new Registry();
  const metrics = createRpcMetrics(registry);
  const calls: Array<[string, string, string, number]> = [
    ['a.v1.S', 'Get', 'grpc', 0],
    ['a.v1.S', 'Get', 'grpc', 0],
    ['a.v1.S', 'Get', 'connect', 0],
    ['a.v1.S', 'Get', 'grpc_web', 3],
    ['a.v1.S', 'List', 'grpc', 0],
    ['b.v1.T', 'Get', 'grpc', 16],
    ['b.v1.T', 'Get', 'grpc', 99], // not a code the kit maps to; still counted, under its own label
  ];
  for (const [service, method, protocol, code] of calls)
    metrics.observe(service, method, protocol, code, 0.002);
  const seen = await counts(registry);
  const of = (service: string, method: string, protocol: string, code: string) =>
    seen.get(`rpc_service="${service}",rpc_method="${method}",protocol="${protocol}",code="${code}"`) ?? 0;
  assert.equal(of('a.v1.S', 'Get', 'grpc', 'ok'), 2);
  assert.equal(of('a.v1.S', 'Get', 'connect', 'ok'), 1);
  assert.equal(of('a.v1.S', 'Get', 'grpc_web', 'invalid_argument'), 1);
  assert.equal(of('a.v1.S', 'List', 'grpc', 'ok'), 1);
  assert.equal(of('b.v1.T', 'Get', 'grpc', 'unauthenticated'), 1);
  assert.equal(of('b.v1.T', 'Get', 'grpc', 'code_99'), 1);
  assert.equal(
    [...seen.values()].reduce((n, v) => n + v, 0),
    calls.length,
  );
});
