// The public API of @wxmesh/contracts: every generated protobuf-es module, flat.
// Message, enum and service names are unique across wxmesh packages, so services can
// `import { SessionService, CreateSessionRequestSchema } from '@wxmesh/contracts'`.
// A clash would be a TS2308 error here; resolve it by renaming the proto message.
// index.spec.ts fails when a generated module is missing from this list.
export * from './gen/wxmesh/auth/v1/auth_verify_service_pb.js';
export * from './gen/wxmesh/behaviour/v1/behaviour_event_pb.js';
export * from './gen/wxmesh/behaviour/v1/behaviour_view_service_pb.js';
export * from './gen/wxmesh/common/v1/access_pb.js';
export * from './gen/wxmesh/common/v1/wechat_context_pb.js';
export * from './gen/wxmesh/echo/v1/echo_pb.js';
export * from './gen/wxmesh/payment/v1/payment_service_pb.js';
export * from './gen/wxmesh/router/v1/message_router_service_pb.js';
export * from './gen/wxmesh/session/v1/session_service_pb.js';
