// Connect client interceptors that make a test's calls come from a given caller, the way each
// real party sends its identity: a mesh peer's declared name (local runs know peers by the
// `x-wxmesh-peer` name the kit's peer client sends), the cloud gateway's `X-WX-*` headers, or a
// session token. Structurally typed: any Connect client accepts them.

/** A Connect interceptor that sets request headers. */
export type HeaderInterceptor = <Req extends { readonly header: Headers }, Res>(
  next: (request: Req) => Promise<Res>,
) => (request: Req) => Promise<Res>;

/** An interceptor that sets `headers` on every request. */
export function withHeaders(headers: Record<string, string>): HeaderInterceptor {
  return (next) => (request) => {
    for (const [name, value] of Object.entries(headers)) request.header.set(name, value);
    return next(request);
  };
}

/** The WeChat identity fields a test sends, as the gateway names them. */
export interface TestIdentity {
  readonly openid?: string;
  readonly appid?: string;
  readonly unionid?: string;
}

function identityHeaders(identity: TestIdentity | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (identity?.openid) headers['x-wx-openid'] = identity.openid;
  if (identity?.appid) headers['x-wx-appid'] = identity.appid;
  if (identity?.unionid) headers['x-wx-unionid'] = identity.unionid;
  return headers;
}

/** Calls as mesh peer `name` on a grpc port, acting for `user` when given. */
export function asPeer(name: string, user?: TestIdentity): HeaderInterceptor {
  return withHeaders({ 'x-wxmesh-peer': name, ...identityHeaders(user) });
}

/** Calls as the cloud gateway does on an http port: the user in `X-WX-*` headers. */
export function asGatewayUser(identity: TestIdentity): HeaderInterceptor {
  return withHeaders(identityHeaders(identity));
}

/** Calls on an http port with a session token from Login. */
export function withBearer(token: string): HeaderInterceptor {
  return withHeaders({ authorization: `Bearer ${token}` });
}
