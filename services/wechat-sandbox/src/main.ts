import { loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { sandboxConfigSchema } from './config.js';
import { createFaults } from './faults.js';
import { endpointsRoute } from './http.js';
import { createMiniProgramApi } from './mp/index.js';
import { createPayApi, loadPayKeys } from './pay/index.js';

const config = loadConfigOrExit(sandboxConfigSchema);

await runService('wechat-sandbox', config, () => {
  const now = Date.now;
  const faults = createFaults();
  const mp = createMiniProgramApi({ now, apps: config.SANDBOX_APPS });
  const pay = createPayApi({
    now,
    keys: loadPayKeys(config),
    notifyTimeScale: config.SANDBOX_PAY_NOTIFY_TIME_SCALE,
    signWith: config.SANDBOX_PAY_SIGN_WITH,
  });
  return {
    services: [echoService],
    httpRoutes: [
      endpointsRoute([...faults.endpoints, ...mp.control]),
      endpointsRoute([...mp.endpoints, ...pay.endpoints], faults.before),
    ],
    closers: [{ name: 'pay', run: () => pay.close() }],
  };
});
