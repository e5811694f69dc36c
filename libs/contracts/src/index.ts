// The public API of @wxmesh/contracts: every generated protobuf-es module, flat.
// Message, enum and service names are unique across wxmesh packages, so services can
// `import { SessionService, CreateSessionRequestSchema } from '@wxmesh/contracts'`.
// A clash would be a TS2308 error here; resolve it by renaming the proto message.
export * from './gen/wxmesh/common/v1/wechat_context_pb.js';
export * from './gen/wxmesh/echo/v1/echo_pb.js';
