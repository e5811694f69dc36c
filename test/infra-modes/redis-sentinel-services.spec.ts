// auth-verify, message-router and payment-callback on a Sentinel-managed primary (see services-on-redis.ts).
import { describeServicesOn } from './services-on-redis.js';

describeServicesOn('sentinel');
