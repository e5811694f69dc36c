import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

const require = createRequire(import.meta.url);

/** grpc.health.v1.Health as any standard client sees it, loaded from the official health.proto. */
export interface HealthClient extends grpc.Client {
  Check(
    request: { service: string },
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
  Watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

/** grpc.reflection.v1.ServerReflection, loaded from the official reflection.proto. */
export interface ReflectionClient extends grpc.Client {
  ServerReflectionInfo(): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
}

type Ctor<T> = new (address: string, credentials: grpc.ChannelCredentials) => T;

const health = grpc.loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
  grpc: { health: { v1: { Health: Ctor<HealthClient> } } };
};
const reflection = grpc.loadPackageDefinition(
  loadSync(require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto')),
) as unknown as { grpc: { reflection: { v1: { ServerReflection: Ctor<ReflectionClient> } } } };

/** A health client built from the official proto, not from anything of ours. */
export function healthClient(address: string): HealthClient {
  return new health.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

/** A reflection client built from the official proto, not from anything of ours. */
export function reflectionClient(address: string): ReflectionClient {
  return new reflection.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
}

/** Check as a promise. */
export function checkHealth(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))),
  );
}
