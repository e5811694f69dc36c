import { commonServiceConfig, defineConfig, loadConfigOrExit } from '@wxmesh/config';
import { echoService, runService } from '@wxmesh/rpc';
import { createPaymentService } from './service.js';

const config = loadConfigOrExit(defineConfig({ ...commonServiceConfig }));

await runService('payment-callback', config, () => ({ services: [createPaymentService(), echoService] }));
