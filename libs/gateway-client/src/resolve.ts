import { getOption, type DescMethod, type DescService } from '@bufbuild/protobuf';
import * as contracts from '@wxmesh/contracts';
import { access, Audience } from '@wxmesh/contracts';
import type { Caller } from './client.js';

/** Every wxmesh service in the contracts. */
export const SERVICES: readonly DescService[] = (Object.values(contracts) as unknown[]).filter(
  (value): value is DescService =>
    typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'service',
);

/**
 * The method `Service/Method` names: the service by its short (`AuthVerifyService`) or full
 * (`wxmesh.auth.v1.AuthVerifyService`) name, the method as in the proto (`Login`). Throws a
 * message that lists what exists when either is unknown.
 */
export function resolveMethod(name: string): { service: DescService; method: DescMethod } {
  const [serviceName = '', methodName = '', extra] = name.replace(/^\//, '').split('/');
  const service = SERVICES.find((s) => s.name === serviceName || s.typeName === serviceName);
  if (service === undefined || extra !== undefined) {
    throw new Error(`unknown service "${serviceName}": one of ${SERVICES.map((s) => s.name).join(', ')}`);
  }
  const method = service.methods.find((m) => m.name === methodName);
  if (method === undefined) {
    throw new Error(
      `${service.name} has no method "${methodName}": one of ${service.methods.map((m) => m.name).join(', ')}`,
    );
  }
  return { service, method };
}

/**
 * Who calls `method` when the user does not say, from its declared audience: the cloud gateway for
 * a PUBLIC or EDGE RPC, the first declared peer for an INTERNAL one (`business-backend` when any
 * peer may call), `operator` for an OPERATOR-only one.
 */
export function defaultCaller(method: DescMethod): Caller {
  const declared = getOption(method, access);
  const audiences = declared.audiences;
  if (audiences.includes(Audience.PUBLIC) || audiences.includes(Audience.EDGE)) return 'gateway';
  if (audiences.includes(Audience.INTERNAL)) {
    const peer = declared.peers.find((p) => p !== '*');
    return { peer: peer ?? 'business-backend' };
  }
  return { peer: 'operator' };
}
