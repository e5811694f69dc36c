// session and behaviour-projector on a Sentinel-managed primary (see session-projector-on-redis.ts).
import { describeSessionAndProjectorOn } from './session-projector-on-redis.js';

describeSessionAndProjectorOn('sentinel');
