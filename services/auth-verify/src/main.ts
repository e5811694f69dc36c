import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { createAuthVerifyService } from './service.js';

const config = loadConfigOrExit(defineConfig({ ...commonServiceConfig }));

await runService('auth-verify', config, () => ({ services: [createAuthVerifyService(), echoService] }));
