import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type * as grpc from '@grpc/grpc-js';

export type { ServingStatus } from 'grpc-health-check';

/**
 * Standard `grpc.health.v1` (Check and Watch) with one status per service plus the overall
 * `""` entry, mirrored locally so `/readyz` answers from the same truth.
 */
export function createHealth(serviceNames: readonly string[]) {
  const statuses = new Map<string, ServingStatus>([['', 'SERVING']]);
  for (const name of serviceNames) statuses.set(name, 'SERVING');
  const implementation = new HealthImplementation(Object.fromEntries(statuses));
  return {
    addToServer(server: grpc.Server) {
      implementation.addToServer(server);
    },
    set(service: string, status: ServingStatus) {
      statuses.set(service, status);
      implementation.setStatus(service, status);
    },
    /** Marks every service, and the server as a whole, with one status (used on shutdown). */
    setAll(status: ServingStatus) {
      for (const service of statuses.keys()) this.set(service, status);
    },
    get(service = ''): ServingStatus {
      return statuses.get(service) ?? 'UNKNOWN';
    },
  };
}

export type Health = ReturnType<typeof createHealth>;
