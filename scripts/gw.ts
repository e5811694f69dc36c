// `npm run gw -- <Service>/<Method> '<json>' [--openid o_x]`: calls wxmesh as the WeChat cloud
// gateway does (or as a mesh peer for internal RPCs). The library behind it is
// @wxmesh/gateway-client, for scripting journeys of your own.
import { gwMain } from '@wxmesh/gateway-client';

process.exitCode = await gwMain(process.argv.slice(2));
