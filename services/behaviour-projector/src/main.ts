import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { createBehaviourViewService } from './service.js';

const config = loadConfigOrExit(defineConfig({ ...commonServiceConfig }));

await runService('behaviour-projector', config, () => ({
  services: [createBehaviourViewService(), echoService],
}));
