// auth-verify, message-router and payment-callback on a 3-master Redis Cluster (see services-on-redis.ts).
import { describeServicesOn } from './services-on-redis.js';

describeServicesOn('cluster');
