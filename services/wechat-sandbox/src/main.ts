import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';

const config = loadConfigOrExit(defineConfig({ ...commonServiceConfig }));

// The WeChat API paths (jscode2session, token, Pay ...) arrive with the domain issues; until then
// the sandbox serves the kit's health, metrics and echo so the mesh's topology is complete.
await runService('wechat-sandbox', config, () => ({ services: [echoService] }));
