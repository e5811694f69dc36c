import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { createFaults } from './faults.js';
import { endpointsRoute } from './http.js';
import { createMiniProgramApi, sandboxApps } from './mp/index.js';
import { createPayApi } from './pay/index.js';

const config = loadConfigOrExit(
  defineConfig({ ...commonServiceConfig, SANDBOX_APPS: sandboxApps().default([]) }),
);

await runService('wechat-sandbox', config, () => {
  const now = Date.now;
  const faults = createFaults();
  const mp = createMiniProgramApi({ now, apps: config.SANDBOX_APPS });
  const pay = createPayApi({ now, env: process.env });
  return {
    services: [echoService],
    httpRoutes: [
      endpointsRoute([...faults.endpoints, ...mp.control]),
      endpointsRoute([...mp.endpoints, ...pay.endpoints], faults.before),
    ],
    closers: [{ name: 'pay', run: () => pay.close() }],
  };
});
