export {
  createGatewayClient,
  newTraceId,
  type Caller,
  type GatewayCallOptions,
  type GatewayClient,
  type GatewayServiceClient,
} from './client.js';
export { main as gwMain, parseGwArgs, runGw, USAGE as GW_USAGE, type GwCommand } from './cli.js';
export {
  DEMO_APPID,
  LOCAL_MESH,
  localMesh,
  singleEndpoint,
  type MeshEndpoints,
  type MeshServiceName,
} from './local-mesh.js';
export { defaultCaller, resolveMethod, SERVICES } from './resolve.js';
export {
  playJourney,
  PAYMENT_NOTICE_KEYWORDS,
  PAYMENT_NOTICE_TEMPLATE,
  type JourneyOptions,
  type JourneyResult,
  type JourneyStep,
} from './journey.js';
