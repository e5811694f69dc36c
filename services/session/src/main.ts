import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { createSessionService } from './service.js';

const config = loadConfigOrExit(defineConfig({ ...commonServiceConfig }));

await runService('session', config, () => ({ services: [createSessionService(), echoService] }));
