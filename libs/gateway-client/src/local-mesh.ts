/**
 * The mesh on one machine as `npm start` runs it: each service on fixed local ports, and which
 * protobuf services each one serves. The ports lie below Linux's ephemeral range (32768–60999 by
 * default): a port in it can be held at any moment by the local end of some other process's
 * connection (a Kafka broker's, say), which made `npm start` fail at random with the port in use. In a cluster the cloud gateway reaches one ingress instead
 * (see {@link MeshEndpoints}).
 */
export const LOCAL_MESH = [
  { name: 'wechat-sandbox', grpc: 8060, http: 8090, serves: [] },
  { name: 'auth-verify', grpc: 8061, http: 8091, serves: ['wxmesh.auth.v1.AuthVerifyService'] },
  {
    name: 'session',
    grpc: 8062,
    http: 8092,
    serves: ['wxmesh.session.v1.SessionService', 'wxmesh.echo.v1.EchoService'],
  },
  { name: 'message-router', grpc: 8063, http: 8093, serves: ['wxmesh.router.v1.MessageRouterService'] },
  { name: 'payment-callback', grpc: 8064, http: 8094, serves: ['wxmesh.payment.v1.PaymentService'] },
  {
    name: 'behaviour-projector',
    grpc: 8065,
    http: 8095,
    serves: ['wxmesh.behaviour.v1.BehaviourViewService'],
  },
] as const;

export type MeshServiceName = (typeof LOCAL_MESH)[number]['name'];

/** Where a protobuf service is reached: its edge (http, Connect) and east-west (grpc) base URLs. */
export interface MeshEndpoints {
  /** `http://host:port` of the http port serving `typeName` (what the cloud gateway calls). */
  http(typeName: string): string;
  /** `http://host:port` of the grpc port serving `typeName` (what mesh peers call). */
  grpc(typeName: string): string;
}

/**
 * The endpoints of a mesh whose services listen on `host` at `ports` (default: `npm start`'s fixed
 * ports). `ports` maps a service name to its ports, for a mesh started on other ports.
 */
export function localMesh(
  options: {
    host?: string;
    ports?: Partial<Record<MeshServiceName, { grpc: number; http: number }>>;
  } = {},
): MeshEndpoints {
  const host = options.host ?? '127.0.0.1';
  const find = (typeName: string) => {
    const spec = LOCAL_MESH.find((s) => (s.serves as readonly string[]).includes(typeName));
    if (spec === undefined) throw new Error(`no wxmesh service serves ${typeName}`);
    return options.ports?.[spec.name] ?? spec;
  };
  return {
    http: (typeName) => `http://${host}:${find(typeName).http}`,
    grpc: (typeName) => `http://${host}:${find(typeName).grpc}`,
  };
}

/**
 * One base URL for every service (an ingress that routes `/<package>.<Service>/` paths, as the
 * cloud gateway sees a cluster), with the grpc side at `grpcUrl` when given.
 */
export function singleEndpoint(httpUrl: string, grpcUrl = httpUrl): MeshEndpoints {
  const strip = (url: string) => url.replace(/\/+$/, '');
  return { http: () => strip(httpUrl), grpc: () => strip(grpcUrl) };
}

/** The demo mini-program `npm start` registers with the sandbox and auth-verify. */
export const DEMO_APPID = 'wx0123456789abcdef';
