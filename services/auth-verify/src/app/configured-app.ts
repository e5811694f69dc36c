import { Code, ConnectError } from '@connectrpc/connect';
import type { AuthDeps } from './deps.js';

/**
 * The AppSecret of `appid`; FailedPrecondition when this mesh does not serve that app. Every RPC
 * naming an app checks it first, so an unknown app never reaches WeChat or Redis.
 */
export function configuredAppSecret(deps: Pick<AuthDeps, 'appSecret'>, appid: string): string {
  const secret = deps.appSecret(appid);
  if (secret === undefined) {
    throw new ConnectError(`appid ${appid} is not configured in this mesh`, Code.FailedPrecondition);
  }
  return secret;
}
