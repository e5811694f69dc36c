import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { DecryptUserDataRequest } from '@wxmesh/contracts';
import type { RpcContext } from '@wxmesh/rpc';
import { decryptOpenData, UserDataError, verifyRawDataSignature } from '@wxmesh/wechat';
import { SessionKeyUnreadableError } from '../adapters/session-key-store.js';
import { userDataFailure } from '../domain/user-data-failure.js';
import { callersSession } from './callers-session.js';
import type { AuthDeps } from './deps.js';

/**
 * DecryptUserData: opens a `wx.getXxx` payload with the session's session_key, checking the raw
 * data's signature first when the client sent one.
 */
export async function decryptUserData(deps: AuthDeps, request: DecryptUserDataRequest, ctx: RpcContext) {
  const session = await callersSession(deps, request.sessionToken, ctx);
  const sessionKey = await sessionKeyOf(deps, session.openid, session.appid);
  if (sessionKey === undefined) {
    throw new ConnectError('no session_key is held for this session; log in again', Code.FailedPrecondition);
  }
  try {
    if (request.rawData !== '' || request.signature !== '') {
      verifyRawDataSignature(request.rawData, request.signature, sessionKey);
    }
    const opened = decryptOpenData(sessionKey, request.encryptedData, request.iv, session.appid);
    return { dataJson: opened.json, watermarkTime: timestampFromMs(opened.watermark.timestamp * 1000) };
  } catch (err) {
    if (err instanceof UserDataError) throw userDataFailure(err);
    throw err;
  }
}

/** The session's session_key; one sealed under a retired at-rest key is FailedPrecondition (log in again). */
async function sessionKeyOf(deps: AuthDeps, openid: string, appid: string): Promise<string | undefined> {
  try {
    return await deps.sessionKeys.read(openid, appid);
  } catch (err) {
    if (!(err instanceof SessionKeyUnreadableError)) throw err;
    deps.logger.warn({ appid, problem: err.message }, 'session_key unreadable after a key rotation');
    throw new ConnectError(`${err.message}; log in again`, Code.FailedPrecondition);
  }
}
