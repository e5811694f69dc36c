export {
  BreakerOpenError,
  BreakerTimeoutError,
  createBreaker,
  type Breaker,
  type BreakerCallResult,
  type BreakerOptions,
  type BreakerState,
} from './breaker.js';
export { backoffDelay, retry, type RetryOptions } from './retry.js';
export {
  createTokenBucket,
  type TakeResult,
  type TokenBucket,
  type TokenBucketOptions,
} from './token-bucket.js';
