import { fromJson } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';

/**
 * `grpc/health/v1/health.proto` (the one grpc-health-check ships and serves) as protoc/buf compile
 * it, for reflection. Written out because no package holds it compiled: proto-loader's rebuild
 * through protobufjs names the file `grpc_health_v1.proto`, uses relative type names and calls the
 * map entry `Statuses` instead of `StatusesEntry`, which standard clients (grpcurl) reject.
 * reflection.spec.ts compiles the shipped health.proto with buf and checks this is identical.
 */
export const HEALTH_FILE: FileDescriptorProto = fromJson(FileDescriptorProtoSchema, {
  name: 'grpc/health/v1/health.proto',
  package: 'grpc.health.v1',
  messageType: [
    { name: 'HealthListRequest' },
    {
      name: 'HealthListResponse',
      field: [
        {
          name: 'statuses',
          number: 1,
          label: 'LABEL_REPEATED',
          type: 'TYPE_MESSAGE',
          typeName: '.grpc.health.v1.HealthListResponse.StatusesEntry',
          jsonName: 'statuses',
        },
      ],
      nestedType: [
        {
          name: 'StatusesEntry',
          field: [
            { name: 'key', number: 1, label: 'LABEL_OPTIONAL', type: 'TYPE_STRING', jsonName: 'key' },
            {
              name: 'value',
              number: 2,
              label: 'LABEL_OPTIONAL',
              type: 'TYPE_MESSAGE',
              typeName: '.grpc.health.v1.HealthCheckResponse',
              jsonName: 'value',
            },
          ],
          options: { mapEntry: true },
        },
      ],
    },
    {
      name: 'HealthCheckRequest',
      field: [
        { name: 'service', number: 1, label: 'LABEL_OPTIONAL', type: 'TYPE_STRING', jsonName: 'service' },
      ],
    },
    {
      name: 'HealthCheckResponse',
      field: [
        {
          name: 'status',
          number: 1,
          label: 'LABEL_OPTIONAL',
          type: 'TYPE_ENUM',
          typeName: '.grpc.health.v1.HealthCheckResponse.ServingStatus',
          jsonName: 'status',
        },
      ],
      enumType: [
        {
          name: 'ServingStatus',
          value: [
            { name: 'UNKNOWN', number: 0 },
            { name: 'SERVING', number: 1 },
            { name: 'NOT_SERVING', number: 2 },
            { name: 'SERVICE_UNKNOWN', number: 3 },
          ],
        },
      ],
    },
  ],
  service: [
    {
      name: 'Health',
      method: [
        {
          name: 'Check',
          inputType: '.grpc.health.v1.HealthCheckRequest',
          outputType: '.grpc.health.v1.HealthCheckResponse',
        },
        {
          name: 'Watch',
          inputType: '.grpc.health.v1.HealthCheckRequest',
          outputType: '.grpc.health.v1.HealthCheckResponse',
          serverStreaming: true,
        },
        {
          name: 'List',
          inputType: '.grpc.health.v1.HealthListRequest',
          outputType: '.grpc.health.v1.HealthListResponse',
        },
      ],
    },
  ],
  options: {
    javaPackage: 'io.grpc.health.v1',
    javaOuterClassname: 'HealthProto',
    javaMultipleFiles: true,
    goPackage: 'google.golang.org/grpc/health/grpc_health_v1',
    csharpNamespace: 'Grpc.Health.V1',
  },
  syntax: 'proto3',
});
