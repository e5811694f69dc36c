export { currentRpcContext, type RpcContext, type RpcProtocol } from './context.js';
export {
  defineService,
  methodPath,
  type ServiceHandlers,
  type ServiceRegistration,
  type ServerStreamHandler,
  type UnaryHandler,
} from './service.js';
export type { Interceptor, Invocation, Next } from './pipeline.js';
export { RpcServer, type BoundPorts, type RpcServerOptions } from './server.js';
export type { HttpRoute } from './http-transport.js';
export {
  checkRequestBody,
  HttpBodyError,
  readRequestBody,
  type ReadRequestBodyOptions,
} from './http-body.js';
export { closeWhenBodyUnread } from './http-limits.js';
export {
  createPeerClient,
  definePeer,
  type CallOptions,
  type MethodName,
  type PeerCalls,
  type PeerClient,
  type PeerClientOptions,
} from './client.js';
export {
  actingFor,
  callerIdentity,
  describeCaller,
  isOperator,
  OPERATOR_PEER,
  PEER_HEADER,
  sessionVerifierFrom,
  type AnonymousCaller,
  type Caller,
  type CallerPolicy,
  type PeerCaller,
  type SessionTokenVerifier,
  type SessionVerifyClient,
  type UserCaller,
  type UserIdentity,
  type VerifiedSession,
} from './caller.js';
export { methodAccess, servedAtEdge, type MethodAccess } from './access.js';
export { createLogger, REDACTED_PATHS, type Logger } from './logger.js';
export { installShutdown } from './shutdown.js';
export { codeName, toConnectError } from './errors.js';
export type { ServingStatus } from './health.js';
export { echoService } from './echo-service.js';
export { runService, type ServiceParts, type ServiceRuntimeConfig } from './run-service.js';
export { type Dependency } from './dependencies.js';
export type { ShutdownStep } from './shutdown.js';
export { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
