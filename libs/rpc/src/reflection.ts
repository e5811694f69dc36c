import { create, toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { loadFileDescriptorSetFromBuffer, loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type * as grpc from '@grpc/grpc-js';

function withDependencies(files: Iterable<DescFile>): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file);
  };
  for (const file of files) visit(file);
  return ordered;
}

/**
 * gRPC server reflection (v1 and v1alpha) for the registered services and grpc.health.v1, so
 * grpcurl and other standard clients can list and call them without the .proto files.
 *
 * @grpc/reflection wants a proto-loader package definition; it is built from the descriptors
 * protobuf-es already embeds in the generated code, so the served schema is exactly the
 * compiled one and no .proto files need to ship with the service.
 */
export function addReflection(server: grpc.Server, services: readonly DescService[]): void {
  const files = withDependencies(services.map((service) => service.file));
  const set = create(FileDescriptorSetSchema, { file: files.map((file) => file.proto) });
  const ours = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  const health = loadSync(healthProtoPath);
  new ReflectionService({ ...health, ...ours }).addToServer(server);
}
