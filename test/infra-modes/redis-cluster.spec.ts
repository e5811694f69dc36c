// session and behaviour-projector on a 3-master Redis Cluster (see session-projector-on-redis.ts).
import { describeSessionAndProjectorOn } from './session-projector-on-redis.js';

describeSessionAndProjectorOn('cluster');
