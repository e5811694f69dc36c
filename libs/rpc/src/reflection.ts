import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type * as grpc from '@grpc/grpc-js';
import { HEALTH_FILE } from './grpc-health-descriptor.js';

/** The fully-qualified name of the standard health service, served beside ours. */
const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** A compiled file as protobuf-es holds it: its exact encoding and the files it imports. */
export interface ExactFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly dependency: readonly string[];
}

/** `files` and every file they import, transitively, each once, dependencies first. */
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
 * The FileDescriptorProtos of the services' files and all their imports exactly as compiled:
 * `file.proto` is what protoc/buf produced (dependency list, fully-qualified type names, map entry
 * names, json_name, custom options such as buf.validate kept as their encoded extensions).
 */
export function exactFiles(services: readonly DescService[]): ExactFile[] {
  return withDependencies(services.map((service) => service.file)).map((file) => exactFile(file.proto));
}

function exactFile(proto: FileDescriptorProto): ExactFile {
  return {
    name: proto.name,
    bytes: toBinary(FileDescriptorProtoSchema, proto),
    dependency: [...proto.dependency],
  };
}

/** The parts of @grpc/reflection's v1 / v1alpha implementation (1.0.x) this file corrects. */
interface ReflectionIndex {
  /** Decoded files by name; the objects key the maps below. */
  readonly files: Record<string, object>;
  /** Each file's direct dependencies; responses carry their transitive closure. */
  readonly fileDependencies: Map<object, object[]>;
  /** The bytes served for each file. */
  readonly fileEncodings: Map<object, Uint8Array>;
  /** Extensions by extendee name, then field number. */
  readonly extensions: Record<string, Record<number, object>>;
}

function reflectionIndex(implementation: unknown): ReflectionIndex {
  const index = implementation as Partial<ReflectionIndex> | undefined;
  if (
    typeof index?.files !== 'object' ||
    !(index.fileDependencies instanceof Map) ||
    !(index.fileEncodings instanceof Map) ||
    typeof index.extensions !== 'object'
  ) {
    throw new Error(
      '@grpc/reflection no longer has the index libs/rpc/src/reflection.ts corrects; update it for this version',
    );
  }
  return index as ReflectionIndex;
}

/**
 * Makes one @grpc/reflection implementation serve `exact` as compiled. The library decodes the
 * files with protobufjs and re-encodes them (dropping extension options it does not know, such as
 * buf.validate's), works out dependencies from type references only (so option-only imports go
 * missing), and keys extensions by their extendee as written (`.google.protobuf.MethodOptions`,
 * while clients ask for `google.protobuf.MethodOptions`). Its protocol handling is kept; these
 * three indexes are replaced with the compiled truth.
 */
function serveExactly(implementation: unknown, exact: readonly ExactFile[]): void {
  const { files, fileDependencies, fileEncodings, extensions } = reflectionIndex(implementation);
  const indexed = (name: string) => {
    const file = files[name];
    if (file === undefined) throw new Error(`reflection: ${name} was not indexed by @grpc/reflection`);
    return file;
  };
  for (const file of exact) {
    fileEncodings.set(indexed(file.name), file.bytes);
    fileDependencies.set(indexed(file.name), file.dependency.map(indexed));
  }
  for (const extendee of Object.keys(extensions)) {
    if (!extendee.startsWith('.')) continue;
    const name = extendee.slice(1);
    extensions[name] = { ...extensions[name], ...extensions[extendee] };
    delete extensions[extendee];
  }
}

/**
 * gRPC server reflection (v1 and v1alpha) for the registered services and grpc.health.v1, so
 * grpcurl and other standard clients can list, describe and call them without the .proto files.
 *
 * Every file is served byte for byte as compiled: ours as protobuf-es holds them (see
 * {@link exactFiles}), with their imports, and grpc/health/v1/health.proto as buf compiles it (see
 * grpc-health-descriptor.ts). Only the services this server runs (and health) are listed, not every
 * service an imported file declares.
 */
export function addReflection(server: grpc.Server, services: readonly DescService[]): void {
  const exact = [...exactFiles(services), exactFile(HEALTH_FILE)];
  const definition = {
    // @grpc/reflection reads only `fileDescriptorProtos` from each entry of a package definition.
    'wxmesh.compiled-files': {
      format: 'wxmesh exact FileDescriptorProtos',
      fileDescriptorProtos: exact.map((file) => Buffer.from(file.bytes)),
    },
  } as unknown as PackageDefinition;
  const reflection = new ReflectionService(definition, {
    services: [...services.map((service) => service.typeName), HEALTH_SERVICE],
  });
  const versions = reflection as unknown as { v1?: unknown; v1Alpha?: unknown };
  serveExactly(versions.v1, exact);
  serveExactly(versions.v1Alpha, exact);
  reflection.addToServer(server);
}
