import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { createMessageRouterService } from './service.js';

const config = loadConfigOrExit(defineConfig({ ...commonServiceConfig }));

await runService('message-router', config, () => ({ services: [createMessageRouterService(), echoService] }));
